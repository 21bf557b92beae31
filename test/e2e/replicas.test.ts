// The issue's proof of replicas: two identity replicas, two gateways (one
// public port, SO_REUSEPORT) and two vaults on one PostgreSQL, started by
// `bulwark up --demo`. Under load (client-credentials grants and API calls
// through the gateway port, secret writes to the vault through a client
// that spreads over both vaults), kill -9 one of each: no acknowledged write
// is lost, every request started after the failover succeeds on the
// survivors, and `bulwark audit verify` passes. Skips without PostgreSQL.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createMtlsAgent, createSvidSource, describeCertificate, expectSpiffeId, operatorSpiffeId, serviceSpiffeId, type PlatformConfig } from '@bulwark/core/base'
import { freePortBlock, postgresSkipReason, startPostgres, type TestPostgres } from '@bulwark/testkit'
import type { Dispatcher } from 'undici'
import { startSystem, type System } from '../../scripts/lib/system.ts'
import { discover, loginWithPkce } from '../../scripts/lib/oidc-driver.ts'

const skip = postgresSkipReason()
let pg: TestPostgres | undefined
let system: System | undefined
let vaultUrls: string[] = []
let vault: Dispatcher | undefined
let aliceToken = ''

before(async () => {
  if (skip) return
  pg = await startPostgres()
  const databaseUrl = await pg.createDatabase('replicas')
  const block = await freePortBlock(4)
  system = await startSystem({
    demo: true,
    env: { BULWARK_DATABASE_URL: databaseUrl },
    configure(config: PlatformConfig) {
      config.components.vault = { ...config.components.vault!, port: block, replicas: 2 }
      config.components.identity = { ...config.components.identity!, port: block + 2, replicas: 2 }
      config.components.gateway = { ...config.components.gateway!, replicas: 2 }
      vaultUrls = [`https://127.0.0.1:${block}`, `https://127.0.0.1:${block + 1}`]
    },
  })
  // The operator's client of the vault, as `bulwark secrets` builds it: both replicas, one SPIFFE ID.
  const certPem = readFileSync(`${system.home}/operator/operator.crt`, 'utf8')
  const [leaf, ...chain] = certPem.split(/(?=-----BEGIN CERTIFICATE-----)/)
  const info = describeCertificate(leaf!)
  const source = createSvidSource({
    spiffeId: operatorSpiffeId('bulwark.local'), keyPem: readFileSync(`${system.home}/operator/operator.key`, 'utf8'), certPem: leaf!, chainPem: chain.join(''),
    bundlePem: system.rootPem, notAfter: info.notAfter, serial: info.serial,
  })
  vault = createMtlsAgent(source, { verifyPeer: expectSpiffeId(serviceSpiffeId('bulwark.local', 'vault')), connections: 4, replicas: vaultUrls })
  const shop = await discover(system, 'shop-cli')
  const alice = system.creds.users.find((u) => u.username === 'alice')!
  aliceToken = (await loginWithPkce(system, shop, alice, system.creds.clients.find((c) => c.clientId === 'shop-cli')!.scopes.join(' '))).tokens.access_token
}, { timeout: 360_000 })
after(async () => {
  await vault?.close()
  await system?.stop()
  await pg?.stop()
})

type RunState = { components: Array<{ name: string; replica?: number; pid: number | null; url: string }> }
const runState = () => JSON.parse(readFileSync(`${system!.home}/run/state.json`, 'utf8')) as RunState

test('replicas: status lists every replica of identity, gateway and vault, each its own process', { skip }, async () => {
  const status = await system!.cli(['status', '--json'])
  assert.equal(status.code, 0, status.stdout + status.stderr)
  const body = JSON.parse(status.stdout) as { components: Array<{ name: string; healthy: boolean; replicas?: Array<{ replica: number; url: string; pid: number; healthy: boolean }> }> }
  for (const name of ['identity', 'gateway', 'vault']) {
    const c = body.components.find((x) => x.name === name)!
    assert.equal(c.replicas?.length, 2, `${name} has two replicas`)
    assert.ok(c.replicas.every((r) => r.healthy), `${name}: both healthy`)
    assert.notEqual(c.replicas[0]!.pid, c.replicas[1]!.pid)
  }
  assert.deepEqual(body.components.find((x) => x.name === 'vault')!.replicas!.map((r) => r.url), vaultUrls, 'vault replicas on consecutive ports')
  assert.equal(body.components.filter((x) => x.name === 'identity').length, 1, 'one entry per component')
  const text = await system!.cli(['status'])
  assert.match(text.stdout, /identity#2/)
})

test('replicas: kill -9 one identity, one gateway and one vault under load: no acknowledged write lost, every later request succeeds, audit verifies', { skip, timeout: 180_000 }, async () => {
  const s = system!
  const discovery = await (await s.fetch('/.well-known/openid-configuration')).json() as { token_endpoint: string }
  const job = s.creds.clients.find((c) => c.clientId === 'reporting-job')!
  const basic = `Basic ${Buffer.from(`${job.clientId}:${job.clientSecret}`).toString('base64')}`
  type Outcome = { what: string; startedAt: number; endedAt: number; ok: boolean; detail: string }
  const outcomes: Outcome[] = []
  const acknowledged: number[] = []
  let running = true
  const record = async (what: string, call: () => Promise<{ ok: boolean; detail: string }>) => {
    const startedAt = Date.now()
    try {
      const r = await call()
      outcomes.push({ what, startedAt, endedAt: Date.now(), ...r })
    } catch (error) {
      outcomes.push({ what, startedAt, endedAt: Date.now(), ok: false, detail: `${(error as Error).message} ${(error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code ?? ''}` })
    }
  }
  let n = 0
  const writer = async () => {
    while (running) {
      const i = n++
      await record('vault write', async () => {
        const res = await vault!.request({ origin: vaultUrls[0], path: `/v1/kv/data/failover/s${i}`, method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { n: String(i) } }), headersTimeout: 10_000 })
        const text = await res.body.text()
        if (res.statusCode === 200) acknowledged.push(i)
        return { ok: res.statusCode === 200, detail: `${res.statusCode} ${text.slice(0, 200)}` }
      })
    }
  }
  const granter = async () => {
    while (running) {
      await record('grant', async () => {
        const res = await s.fetch(new URL(discovery.token_endpoint).pathname, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=orders%3Aread%3Aall' })
        const text = await res.text()
        return { ok: res.status === 200 && text.includes('access_token'), detail: `${res.status} ${text.slice(0, 200)}` }
      })
    }
  }
  const reader = async () => {
    while (running) {
      await record('api', async () => {
        const res = await s.fetch('/api/users/me', { headers: { authorization: `Bearer ${aliceToken}` } })
        const text = await res.text()
        return { ok: res.status === 200, detail: `${res.status} ${text.slice(0, 200)}` }
      })
    }
  }
  const load = Promise.all([writer(), writer(), granter(), granter(), reader()])
  await new Promise((resolve) => setTimeout(resolve, 3000))

  const victims = runState().components.filter((c) => ['identity', 'gateway', 'vault'].includes(c.name) && (c.replica ?? 1) === 1)
  assert.equal(victims.length, 3)
  const killedAt = Date.now()
  for (const v of victims) process.kill(v.pid!, 'SIGKILL')
  const gone = (pid: number) => { try { process.kill(pid, 0); return false } catch { return true } }
  while (!victims.every((v) => gone(v.pid!))) await new Promise((resolve) => setTimeout(resolve, 10))
  const failoverAt = Date.now()
  await new Promise((resolve) => setTimeout(resolve, 6000))
  running = false
  await load

  const before = outcomes.filter((o) => o.endedAt < killedAt)
  const later = outcomes.filter((o) => o.startedAt >= failoverAt)
  const failedLater = later.filter((o) => !o.ok)
  assert.ok(before.length > 20 && before.every((o) => o.ok), `load ran clean before the kill (${before.filter((o) => !o.ok).map((o) => o.detail).slice(0, 3).join('; ')})`)
  for (const what of ['vault write', 'grant', 'api']) assert.ok(later.filter((o) => o.what === what).length >= 5, `${what}: calls kept coming after the failover`)
  assert.deepEqual(failedLater.map((o) => `${o.what}: ${o.detail}`), [], `every request after the failover succeeded (${later.length} of them)`)
  // In flight at the kill: started before the victims were gone and not done before the kill (these may fail).
  const inFlight = outcomes.filter((o) => o.endedAt >= killedAt && o.startedAt < failoverAt)
  s.output() // keep the platform's output for the log on failure
  console.log(`replicas failover: ${before.length} calls before, ${inFlight.length} in flight at the kill (${inFlight.filter((o) => !o.ok).length} failed), ${later.length} after, all ok; ${acknowledged.length} acknowledged vault writes; kill-to-exit ${failoverAt - killedAt} ms`)

  // Every acknowledged write is readable (through both vaults: the killed one is back by now or the survivor answers).
  for (const i of acknowledged) {
    const res = await vault!.request({ origin: vaultUrls[0], path: `/v1/kv/data/failover/s${i}`, method: 'GET', headersTimeout: 10_000 })
    const body = await res.body.json() as { data?: { n?: string } }
    assert.equal(res.statusCode, 200, `secret s${i}`)
    assert.equal(body.data?.n, String(i))
  }
  const verify = await s.cli(['audit', 'verify'], 120_000)
  assert.equal(verify.code, 0, verify.stdout + verify.stderr)
})
