// kill -9 under load, real processes: `bulwark up` runs ca, audit, vault and
// identity; a client drives acknowledged operations as fast as it can, the
// component is killed mid-load and the supervisor restarts it. Then every
// acknowledged operation is looked up in the audit log, one by one: an
// acknowledged change whose audit event was lost is a defect, however short
// the window.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { request, type Agent } from 'undici'
import { createMtlsAgent, createSvidSource, describeCertificate, homePaths, operatorSpiffeId, serviceSpiffeId } from '@bulwark/core'
import { freePort, freePortBlock, tempDir } from '@bulwark/testkit'
import { CLI_MAIN, runCli } from '../../scripts/lib/system.ts'

type Component = { name: string; url: string; healthy: boolean; pid: number | null }
type Load = { acknowledged: number; seconds: number; p99: number }

const TRUST_DOMAIN = 'bulwark.local'
const dir = tempDir('bulwark-durable-')
const home = `${dir.path}/home`
let up: ChildProcess
let output = ''
const agents = new Map<string, Agent>()

function operatorAgent(component: string): Agent {
  let agent = agents.get(component)
  if (agent) return agent
  const paths = homePaths(home)
  const [leaf, ...chain] = readFileSync(paths.operatorCert, 'utf8').split(/(?=-----BEGIN CERTIFICATE-----)/)
  const info = describeCertificate(leaf!)
  const source = createSvidSource({
    spiffeId: operatorSpiffeId(TRUST_DOMAIN), keyPem: readFileSync(paths.operatorKey, 'utf8'), certPem: leaf!, chainPem: chain.join(''),
    bundlePem: readFileSync(paths.rootCert, 'utf8'), notAfter: info.notAfter, serial: info.serial,
  })
  const expected = serviceSpiffeId(TRUST_DOMAIN, component)
  agent = createMtlsAgent(source, { verifyPeer: (id) => id === expected, connections: 16 })
  agents.set(component, agent)
  return agent
}

async function components(): Promise<Component[]> {
  const status = await runCli(home, ['status', '--json'])
  return status.code === 0 ? (JSON.parse(status.stdout) as { components: Component[] }).components : []
}

async function component(name: string): Promise<Component> {
  const found = (await components()).find((c) => c.name === name)
  assert.ok(found?.pid, `${name} is running`)
  return found
}

async function restarted(name: string, killedPid: number): Promise<Component> {
  const deadline = Date.now() + 40_000
  for (;;) {
    const again = (await components()).find((c) => c.name === name)
    if (again?.healthy && again.pid !== null && again.pid !== killedPid) return again
    if (Date.now() > deadline) throw new Error(`${name} did not come back:\n${output.slice(-3000)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/**
 * Runs `writers` loops of `operation` until one fails (the process died), killing `pid` mid-load once
 * `killAt` operations were acknowledged (a slow machine still gets a meaningful load), or after 10 s.
 * Returns throughput and p99 latency of what was acknowledged before the kill.
 */
async function loadAndKill(pid: number, writers: number, killAt: number, operation: (w: number, i: number) => Promise<boolean>): Promise<Load> {
  const latencies: number[] = []
  const start = performance.now()
  let killedAt = 0
  const kill = () => {
    if (killedAt) return
    killedAt = performance.now()
    process.kill(pid, 'SIGKILL')
  }
  const timeout = setTimeout(kill, 10_000)
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    for (let i = 0; ; i++) {
      const t0 = performance.now()
      let ok: boolean
      try {
        ok = await operation(w, i)
      } catch {
        return // the connection died with the process: not acknowledged
      }
      if (ok && !killedAt) latencies.push(performance.now() - t0)
      if (latencies.length >= killAt) kill()
      if (!ok && killedAt) return
    }
  }))
  clearTimeout(timeout)
  latencies.sort((a, b) => a - b)
  return { acknowledged: latencies.length, seconds: ((killedAt || performance.now()) - start) / 1000, p99: latencies[Math.floor(latencies.length * 0.99)] ?? NaN }
}

/** Every event of `type` in the audit log, read as the operator. */
async function auditEvents(type: string): Promise<Array<{ resource?: string; requestId?: string; details?: Record<string, unknown> }>> {
  const audit = await component('audit')
  const out: Array<{ resource?: string; requestId?: string; details?: Record<string, unknown> }> = []
  let after = -1
  for (;;) {
    const res = await request(`${audit.url}/v1/events?type=${type}&after=${after}&limit=1000`, { dispatcher: operatorAgent('audit') })
    const page = await res.body.json() as { entries: Array<{ index: number; event: { resource?: string; requestId?: string; details?: Record<string, unknown> } }>; next: number }
    assert.equal(res.statusCode, 200)
    out.push(...page.entries.map((e) => e.event))
    if (page.entries.length < 1000) return out
    after = page.next
  }
}

/** Polls until every expected key is in the log (the restarted component ships its spool first): what is still missing at the deadline. */
async function missingFromLog(type: string, keyOf: (e: { resource?: string; requestId?: string; details?: Record<string, unknown> }) => string | undefined, expected: string[]): Promise<string[]> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const found = new Set((await auditEvents(type)).map(keyOf))
    const missing = expected.filter((key) => !found.has(key))
    if (missing.length === 0 || Date.now() > deadline) return missing
    await new Promise((r) => setTimeout(r, 500))
  }
}

before(async () => {
  const basePort = await freePortBlock(10)
  const init = await runCli(home, ['init', '--base-port', String(basePort), '--gateway-port', String(await freePort())])
  assert.equal(init.code, 0, init.stderr)
  // Only the pieces under test (fewer processes on a small machine): the CA, the audit log, vault and identity.
  const config = JSON.parse(readFileSync(`${home}/config.json`, 'utf8')) as { components: Record<string, { enabled?: boolean }> }
  for (const name of ['policy', 'gateway']) config.components[name]!.enabled = false
  writeFileSync(`${home}/config.json`, JSON.stringify(config, null, 2))
  up = spawn(process.execPath, [CLI_MAIN, '--home', home, 'up'], { stdio: ['ignore', 'pipe', 'pipe'] })
  up.stdout!.on('data', (d) => { output += d })
  up.stderr!.on('data', (d) => { output += d })
  const deadline = Date.now() + 90_000
  while (!/Bulwark is ready/.test(output)) {
    if (up.exitCode !== null || Date.now() > deadline) throw new Error(`bulwark up failed:\n${output.slice(-4000)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}, { timeout: 120_000 })

after(async () => {
  await Promise.all([...agents.values()].map((a) => a.close().catch(() => undefined)))
  if (up && up.exitCode === null) {
    const exited = new Promise((resolve) => up.once('exit', resolve))
    up.kill('SIGTERM')
    const force = setTimeout(() => up.kill('SIGKILL'), 20_000)
    await exited
    clearTimeout(force)
  }
  dir.remove()
})

test('kill -9 of vault under write load: every acknowledged write has its secret.written event in the audit log', { timeout: 90_000 }, async (t) => {
  const vault = await component('vault')
  const agent = operatorAgent('vault')
  const acknowledged: string[] = []
  const load = await loadAndKill(vault.pid!, 16, 800, async (w, i) => {
    const path = `durable/w${w}/n${i}`
    const res = await request(`${vault.url}/v1/kv/data/${path}`, {
      method: 'PUT', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { value: `v-${w}-${i}` } }),
    })
    const body = await res.body.json() as { version?: number }
    if (res.statusCode !== 200) return false
    acknowledged.push(`${path}@${body.version}`)
    return true
  })
  t.diagnostic(`vault: ${acknowledged.length} writes acknowledged, ${(load.acknowledged / load.seconds).toFixed(0)} writes/s, p99 ${load.p99.toFixed(1)} ms (16 connections)`)
  assert.ok(acknowledged.length >= 200, `load too light to mean anything: ${acknowledged.length} acknowledged`)
  await restarted('vault', vault.pid!)
  const missing = await missingFromLog('secret.written', (e) => `${e.resource}@${e.details?.version}`, acknowledged)
  assert.deepEqual(missing, [], `${missing.length} of ${acknowledged.length} acknowledged writes have no audit event`)
})

test('kill -9 of identity under client-credentials load: every issued token has its token.issued event in the audit log', { timeout: 90_000 }, async (t) => {
  const identity = await component('identity')
  const admin = operatorAgent('identity')
  const created = await request(`${identity.url}/admin/v1/clients`, {
    method: 'POST', dispatcher: admin, headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: 'durable-job', grantTypes: ['client_credentials'], scopes: ['orders:read:all'] }),
  })
  const client = await created.body.json() as { clientSecret?: string }
  assert.equal(created.statusCode, 201, JSON.stringify(client))
  const basic = `Basic ${Buffer.from(`durable-job:${client.clientSecret}`).toString('base64')}`
  const acknowledged: string[] = []
  const load = await loadAndKill(identity.pid!, 8, 600, async (w, i) => {
    const requestId = `durable-${w}-${i}`
    const res = await request(`${identity.url}/oauth2/token`, {
      method: 'POST', dispatcher: admin,
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic, 'x-request-id': requestId },
      body: 'grant_type=client_credentials&scope=orders%3Aread%3Aall',
    })
    const body = await res.body.json() as { access_token?: string }
    if (res.statusCode !== 200 || !body.access_token) return false
    acknowledged.push(requestId)
    return true
  })
  t.diagnostic(`identity: ${acknowledged.length} tokens issued, ${(load.acknowledged / load.seconds).toFixed(0)} grants/s, p99 ${load.p99.toFixed(1)} ms (8 connections)`)
  assert.ok(acknowledged.length >= 100, `load too light to mean anything: ${acknowledged.length} acknowledged`)
  await restarted('identity', identity.pid!)
  const missing = await missingFromLog('token.issued', (e) => e.requestId, acknowledged)
  assert.deepEqual(missing, [], `${missing.length} of ${acknowledged.length} issued tokens have no audit event`)
})
