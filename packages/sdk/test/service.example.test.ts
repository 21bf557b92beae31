// Runs the README's "secure your own service in 15 lines" example
// (examples/notes-service.ts) exactly as written: its default Authorizer is
// the real sdk policy client, pulling a set from a policy endpoint over mTLS.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Agent } from 'undici'
import { createManualClock, createServiceServer, createSilentLogger, mtlsServerOptions } from '@bulwark/core'
import { createTestCa, tempDir, type TestCa } from '@bulwark/testkit'
import { start } from '../examples/notes-service.ts'
import { api, createTestRuntime, defaultPolicyText, listen, mtlsClient, startFakeIdentity, type FakeIdentity, type TestRuntime } from './service-support/index.ts'

const NOTES_POLICY = `
@id("notes-gateway-calls") permit (principal is Service, action == Action::"call", resource is Endpoint) when { principal.name == "gateway" && resource.service == "notes" };
@id("notes-owner-reads") permit (principal is User, action == Action::"notes.read", resource is Note) when { resource.owner == principal };
`
let ca: TestCa
let identity: FakeIdentity
let rt: TestRuntime
let policyServer: ReturnType<typeof createServiceServer>
let app: Awaited<ReturnType<typeof start>>['app']
let url: string
let gateway: Agent
let orders: Agent
const home = tempDir()
const clock = createManualClock(Date.now())

before(async () => {
  ca = await createTestCa()
  identity = await startFakeIdentity({ source: await ca.source('identity'), trustDomain: ca.trustDomain, issuer: 'https://localhost:8443', clock })
  policyServer = createServiceServer({ name: 'policy', log: createSilentLogger(), https: mtlsServerOptions(await ca.source('policy')) })
  policyServer.get('/v1/policy-set', async (request, reply) => {
    if (request.headers['if-none-match'] === '"1"') {
      await new Promise((r) => setTimeout(r, 200))
      return reply.code(304).send()
    }
    return reply.header('etag', '"1"').send({ version: '1', schema: '', policies: defaultPolicyText() + NOTES_POLICY })
  })
  const policyUrl = await listen(policyServer)
  rt = await createTestRuntime({ ca, name: 'notes', home: home.path, publicUrl: 'https://localhost:8443', peers: { identity: identity.url, policy: policyUrl }, clock })
  app = (await start(rt)).app
  url = await listen(app)
  gateway = await mtlsClient(ca, 'gateway', 'notes')
  orders = await mtlsClient(ca, 'orders', 'notes')
})
after(async () => {
  await app.close()
  await policyServer.close()
  await identity.close()
  await rt.closeAgents()
  await gateway.close()
  await orders.close()
  home.remove()
})

test('the README example is the file the test runs, and fits in about 15 lines of code', () => {
  const source = readFileSync(join(import.meta.dirname, '../examples/notes-service.ts'), 'utf8')
  const code = source.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('//') && !l.startsWith('import'))
  assert.ok(code.length <= 15, `${code.length} lines`)
  const readme = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8')
  for (const line of code) assert.ok(readme.includes(line.trim()), `README lacks: ${line.trim()}`)
})

test('the example serves the owner, hides the note from others, and refuses what zero trust refuses', async () => {
  const alice = await identity.tokenFor('notes', { sub: 'alice' })
  let res = await api(gateway, url, 'GET', '/notes/n1', { token: alice })
  // The policy client may still be on its first pull: until then every decision is a deny.
  for (let i = 0; i < 100 && res.status === 403; i++) {
    await new Promise((r) => setTimeout(r, 20))
    res = await api(gateway, url, 'GET', '/notes/n1', { token: alice })
  }
  assert.equal(res.status, 200)
  assert.equal(res.body.text, 'buy milk')
  assert.equal((await api(gateway, url, 'GET', '/notes/n1', { token: await identity.tokenFor('notes', { sub: 'bob' }) })).status, 404)
  assert.equal((await api(gateway, url, 'GET', '/notes/n1')).status, 401)
  assert.equal((await api(gateway, url, 'GET', '/notes/..%2fetc', { token: alice })).status, 400)
  assert.equal((await api(orders, url, 'GET', '/notes/n1', { token: await identity.tokenFor('notes', { sub: 'alice', actor: `spiffe://${ca.trustDomain}/svc/orders` }) })).status, 403)
  assert.equal((await api(gateway, url, 'GET', '/notes/n1', { token: await identity.tokenFor('orders', { sub: 'alice' }) })).status, 401)
})
