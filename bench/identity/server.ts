// The identity process under test: started by index.ts with fork(), it stands
// identity up (testkit CA, forwarder as the gateway) at OWASP argon2id cost and
// hands the client side what it needs over IPC. It reports its own CPU use.
import { startHarness } from '../../packages/identity/test/helpers.ts'

const h = await startHarness({
  argon2: { memoryKiB: 19456, iterations: 2, parallelism: 1 },
  lockout: { maxFailures: 1000, windowSeconds: 900, lockSeconds: 900, freeFailures: 100, maxDelaySeconds: 30 },
})
const svids = Object.fromEntries(await Promise.all(['reporting', 'orders', 'gateway'].map(async (name) => [name, await h.ca.issue(name)])))
process.send!({ type: 'ready', url: h.url, issuer: h.issuer, rootPem: h.ca.rootPem, trustDomain: h.ca.trustDomain, demo: h.demo, svids })
process.on('message', async (message: { type: string }) => {
  if (message.type === 'cpu') process.send!({ type: 'cpu', usage: process.cpuUsage() })
  if (message.type === 'stop') {
    await h.close()
    process.exit(0)
  }
})
