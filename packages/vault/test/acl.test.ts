// Test fixture: every password, secret and token in this file is a made-up test value.
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { createRuleAuthorizer, defaultRules, globMatch } from '../src/acl.ts'
import { startVault, type Client, type Harness } from './helpers.ts'

let h: Harness
let op: Client
let users: Client
let orders: Client
let stranger: Client
const b64 = (s: string) => Buffer.from(s).toString('base64')

before(async () => {
  h = await startVault()
  op = await h.operator()
  users = await h.client('users')
  orders = await h.client('orders')
  stranger = await h.client('spiffe://other.domain/svc/users')
  await op.call('PUT', '/v1/kv/data/shop/users/db', { data: { password: 'users-db' } })
  await op.call('PUT', '/v1/kv/data/shop/orders/db', { data: { password: 'orders-db' } })
  await op.call('PUT', '/v1/kv/data/platform/root', { data: { k: 'v' } })
})
after(() => h.close())

test('a shop service reads its own secrets and lists its own folder', async () => {
  const own = await users.call('GET', '/v1/kv/data/shop/users/db')
  assert.equal(own.status, 200)
  assert.equal(own.body.data.password, 'users-db')
  assert.deepEqual((await users.call('GET', '/v1/kv/list/shop/users/')).body.keys, ['db'])
})

test('another service\'s secret answers exactly like an absent one', async () => {
  const forbidden = await users.call('GET', '/v1/kv/data/shop/orders/db')
  const absent = await orders.call('GET', '/v1/kv/data/shop/orders/nothing-here')
  const absentSame = await users.call('GET', '/v1/kv/data/shop/orders/db-missing')
  assert.equal(forbidden.status, 404)
  assert.equal(forbidden.body.code, absent.body.code)
  assert.equal(absentSame.body.detail.replace('db-missing', 'db'), forbidden.body.detail)
  assert.deepEqual(Object.keys(forbidden.body).sort(), Object.keys(absent.body).sort())
  const denial = h.events.find((e) => e.type === 'authz.denied' && e.resource === 'Secret:shop/orders/db')
  assert.ok(denial, 'the denial is audited')
  assert.equal(denial.actor.spiffeId, `spiffe://${h.ca.trustDomain}/svc/users`)
  assert.equal(denial.outcome, 'denied')
})

test('services cannot write, delete, list elsewhere or touch system routes', async () => {
  const cases: Array<[Client, string, string, unknown?]> = [
    [users, 'PUT', '/v1/kv/data/shop/users/db', { data: { password: 'x' } }],
    [users, 'DELETE', '/v1/kv/data/shop/users/db'],
    [users, 'POST', '/v1/kv/destroy/shop/users/db', { versions: [1] }],
    [users, 'GET', '/v1/kv/data/platform/root'],
    [users, 'GET', '/v1/kv/list/shop/'],
    [users, 'GET', '/v1/kv/list/'],
    [users, 'POST', '/v1/sys/rotate-kek'],
    [users, 'POST', '/v1/sys/rewrap'],
    [users, 'POST', '/v1/transit/keys/identity-totp'],
    [users, 'POST', '/v1/transit/keys/shop-pii/rotate'],
  ]
  for (const [client, method, path, body] of cases) {
    const res = await client.call(method, path, body)
    assert.equal(res.status, 404, `${method} ${path}`)
  }
  assert.equal((await users.call('GET', '/v1/kv/data/shop/users/db')).body.version, 1, 'nothing changed')
})

test('a certificate from another trust domain chained to the same CA is not the service', async () => {
  const res = await stranger.call('GET', '/v1/kv/data/shop/users/db')
  assert.equal(res.status, 404)
})

test('a client without a certificate cannot connect at all', async () => {
  const { request, Agent } = await import('undici')
  const agent = new Agent({ connect: { ca: h.ca.rootPem, rejectUnauthorized: false } })
  await assert.rejects(request(`${h.url}/v1/kv/data/shop/users/db`, { dispatcher: agent }))
  await agent.close()
})

test('platform services own svc/<self>/ and transit keys named after themselves', async () => {
  const identity = await h.client('identity')
  await op.call('PUT', '/v1/kv/data/svc/identity/cookie-keys', { data: { k: '1' } })
  assert.equal((await identity.call('GET', '/v1/kv/data/svc/identity/cookie-keys')).status, 200)
  assert.equal((await users.call('GET', '/v1/kv/data/svc/identity/cookie-keys')).status, 404)
  assert.equal((await identity.call('POST', '/v1/transit/keys/identity-totp')).status, 201)
  assert.equal((await identity.call('POST', '/v1/transit/encrypt/identity-totp', { plaintext: b64('x') })).status, 200)
  assert.equal((await users.call('POST', '/v1/transit/encrypt/identity-totp', { plaintext: b64('x') })).status, 404)
  assert.equal((await identity.call('POST', '/v1/transit/encrypt/shop-pii', { plaintext: b64('x') })).status, 404)
})

test('the rule engine: default deny, globs stay inside segments unless **', () => {
  const authz = createRuleAuthorizer(defaultRules('td', ['users']))
  const ask = (principal: string, action: string, type: string, id: string) =>
    authz.authorize({ principal: { type: 'Service', id: principal }, action: { type: 'Action', id: action }, resource: { type, id } }).decision
  assert.equal(ask('spiffe://td/svc/users', 'kv.read', 'Secret', 'shop/users/a/b'), 'allow')
  assert.equal(ask('spiffe://td/svc/users', 'kv.read', 'Secret', 'shop/usersx/a'), 'deny')
  assert.equal(ask('spiffe://td/svc/catalog', 'kv.read', 'Secret', 'shop/catalog/a'), 'deny', 'not in the shop list')
  assert.equal(ask('spiffe://td/svc/users', 'transit.encrypt', 'TransitKey', 'shop-x'), 'allow')
  assert.equal(ask('spiffe://td/svc/users', 'transit.rotate', 'TransitKey', 'shop-x'), 'deny')
  assert.equal(ask('spiffe://td/operator/admin', 'system.rewrap', 'VaultSystem', 'kek'), 'allow')
  assert.equal(ask('spiffe://td/operator/admin', 'kv.read', 'Unknown', 'x'), 'deny')
  assert.equal(globMatch('a/*/c', 'a/b/c'), true)
  assert.equal(globMatch('a/*/c', 'a/b/x/c'), false)
  assert.equal(globMatch('a/**', 'a/b/x/c'), true)
  assert.equal(globMatch('shop-*', 'shop-a/b'), false)
})

test('an authorizer that throws denies (fail closed)', async () => {
  const { createAccess } = await import('../src/access.ts')
  const { createMemoryAuditSink, createSilentLogger } = await import('@bulwark/core')
  const audit = createMemoryAuditSink()
  const access = createAccess({ authorizer: { authorize() { throw new Error('boom') } }, audit, log: createSilentLogger() })
  const principal = { spiffeId: 'spiffe://td/operator/admin', kind: 'operator' as const, actor: { kind: 'operator' as const } }
  assert.equal(access.isAllowed(principal, 'kv.read', { type: 'Secret', id: 'a' }), false)
})

test('a forbidden operator route looks exactly like a route that does not exist', async () => {
  const forbidden = await users.call('POST', '/v1/sys/rotate-kek')
  const missing = await users.call('POST', '/v1/sys/no-such-route')
  assert.equal(forbidden.status, missing.status)
  assert.equal(forbidden.body.code, missing.body.code)
  assert.equal(forbidden.body.detail.replace('rotate-kek', 'X'), missing.body.detail.replace('no-such-route', 'X'))
})

test('a rules file replaces the defaults; config with unknown keys is refused', async () => {
  const { writeFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tempDir } = await import('@bulwark/testkit')
  const { loadVaultConfig } = await import('../src/config.ts')
  using dir = tempDir('bulwark-vault-rules-')
  const file = join(dir.path, 'rules.json')
  writeFileSync(file, JSON.stringify({ rules: [{ principal: 'spiffe://*/svc/orders', actions: ['kv.read'], resources: ['secret:shared/*'] }] }))
  const custom = await startVault({ rulesFile: file })
  try {
    const customOp = await custom.operator()
    const customOrders = await custom.client('orders')
    assert.equal((await customOp.call('PUT', '/v1/kv/data/shared/x', { data: { a: 1 } })).status, 404, 'operators get nothing the rules do not grant')
    await custom.vault.kv.put('shared/x', { a: 1 }, { actor: 'test' })
    assert.equal((await customOrders.call('GET', '/v1/kv/data/shared/x')).status, 200)
    assert.equal((await customOrders.call('GET', '/v1/kv/data/shared/x/y')).status, 404)
  } finally {
    await custom.close()
  }
  assert.throws(() => loadVaultConfig({ maxVersions: 0, bogus: true }, {}), (error: Error & { issues?: unknown[] }) => error.issues?.length === 2)
})

test('a service keeps its own secrets under svc/<self>/', async () => {
  const gateway = await h.client('gateway')
  assert.equal((await gateway.call('PUT', '/v1/kv/data/svc/gateway/cookie', { data: { k: 'v' } })).status, 200)
  assert.equal((await gateway.call('PUT', '/v1/kv/data/svc/identity/cookie', { data: { k: 'v' } })).status, 404)
})
