// `bulwark run COMPONENT` as a pod runs it: real processes, no supervisor, the
// bootstrap from a file, keys copied from a "mounted Secret" directory, the
// first SVID by attestation against a stand-in cluster issuer, and probes on
// the plain health port.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { initCaMaterial } from '@bulwark/ca/material'
import { homePaths, serviceSpiffeId } from '@bulwark/core/base'
import { freePorts, startStandInIssuer, tempDir, type StandInIssuer } from '@bulwark/testkit'
import { CLI_MAIN, runCli } from './helpers.ts'

const TD = 'bulwark.test'
const dir = tempDir('bulwark-run-')
const children: ChildProcess[] = []
let issuer: StandInIssuer
let ports: number[]

function start(component: string, bootstrapFile: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [CLI_MAIN, 'run', component, '--bootstrap', bootstrapFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  return { child, output: () => output }
}

async function probe(port: number, path: string): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`)
    await res.text()
    return res.status
  } catch {
    return 0
  }
}

async function until(what: string, check: () => Promise<boolean>, output: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached; output:\n${output().slice(-3000)}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

before(async () => {
  issuer = await startStandInIssuer()
  ports = await freePorts(4)
})
after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((resolve) => c.once('exit', resolve)) : undefined)))
  await issuer.close()
  dir.remove()
})

test('`bulwark run` starts the CA and a component outside the supervisor: attestation for the first SVID, probes on the plain health port', async () => {
  const [caPort, caHealth, policyPort, policyHealth] = ports as [number, number, number, number]
  // What the Secrets and ConfigMaps would mount.
  const mounted = join(dir.path, 'mounted')
  const material = homePaths(join(dir.path, 'operator-home'))
  await initCaMaterial(material, { trustDomain: TD })
  mkdirSync(mounted, { recursive: true })
  for (const file of ['root.crt', 'intermediate.crt', 'intermediate.key']) {
    copyFileSync(join(material.caDir, file), join(mounted, file))
    chmodSync(join(mounted, file), 0o440) // a Secret volume readable by the pod's group
  }
  writeFileSync(join(mounted, 'cluster-ca.crt'), issuer.caPem)
  writeFileSync(join(mounted, 'token'), await issuer.token({ namespace: 'bulwark', serviceAccount: 'bulwark-policy' }))
  const caUrl = `https://127.0.0.1:${caPort}`
  const common = { type: 'bootstrap', trustDomain: TD, caUrl, publicUrl: 'https://localhost:8443', svidTtlSeconds: 600, demo: false }
  const caHome = join(dir.path, 'ca-home')
  const caBootstrap = join(dir.path, 'ca.json')
  writeFileSync(caBootstrap, JSON.stringify({
    ...common, component: 'ca', home: caHome, spiffeId: serviceSpiffeId(TD, 'ca'), listen: { host: '127.0.0.1', port: caPort }, peers: {},
    config: { attestation: { kubernetes: { issuer: issuer.issuer, namespace: 'bulwark', caFile: join(mounted, 'cluster-ca.crt'), serviceAccounts: { 'bulwark-policy': 'policy' } } } },
    healthListen: { host: '127.0.0.1', port: caHealth },
    install: [
      { from: join(mounted, 'root.crt'), to: 'ca/root.crt' },
      { from: join(mounted, 'intermediate.crt'), to: 'ca/intermediate.crt' },
      { from: join(mounted, 'intermediate.key'), to: 'ca/intermediate.key', secret: true },
    ],
  }))
  const ca = start('ca', caBootstrap)
  await until('ca ready', async () => (await probe(caHealth, '/readyz')) === 200, ca.output)
  assert.equal(statSync(join(caHome, 'ca', 'intermediate.key')).mode & 0o777, 0o600, 'the key is copied owner-only')

  const policyBootstrap = join(dir.path, 'policy.json')
  writeFileSync(policyBootstrap, JSON.stringify({
    ...common, component: 'policy', home: join(dir.path, 'policy-home'), spiffeId: serviceSpiffeId(TD, 'policy'),
    listen: { host: '127.0.0.1', port: policyPort }, peers: {}, config: {},
    attestation: { kubernetes: { tokenFile: join(mounted, 'token') } },
    healthListen: { host: '127.0.0.1', port: policyHealth },
    install: [{ from: join(mounted, 'root.crt'), to: 'ca/root.crt' }],
  }))
  const policy = start('policy', policyBootstrap)
  await until('policy ready', async () => (await probe(policyHealth, '/readyz')) === 200, policy.output)
  assert.equal(await probe(policyHealth, '/healthz'), 200)
  // The probe port answers nothing else.
  assert.equal(await probe(policyHealth, '/metrics'), 404)
  assert.equal(await probe(policyHealth, '/v1/policy-set'), 404)
  assert.match(policy.output(), new RegExp(`"spiffeId":"${serviceSpiffeId(TD, 'policy')}"`))
  // The CA issued it by attestation.
  await until('attestation audited', async () => /svid\.attest/.test(ca.output()), ca.output, 10_000)
})

test('`bulwark run` refuses a bootstrap file that carries a join token or names another component', async () => {
  const file = join(dir.path, 'bad.json')
  writeFileSync(file, JSON.stringify({ type: 'bootstrap', component: 'orders', home: dir.path, joinToken: 'bwjt_secret-in-a-file' }))
  const withToken = await runCli(['run', 'orders', '--bootstrap', file])
  assert.equal(withToken.code, 1)
  assert.match(withToken.stderr, /carries a join token/)
  assert.doesNotMatch(withToken.stderr, /bwjt_secret/)
  const other = await runCli(['run', 'payments', '--bootstrap', file])
  assert.equal(other.code, 1)
  assert.match(other.stderr, /is for `orders`/)
})
