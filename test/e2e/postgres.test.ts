// The whole demo on PostgreSQL: `bulwark up --demo` with BULWARK_DATABASE_URL
// pointing at a real server (testkit's startPostgres), and the shop's key
// flows through the gateway as in shop.test.ts: login with PKCE, a card, an
// order, the admin directory, and a verified audit log. Skips, saying why,
// where the PostgreSQL server binaries are missing (CI installs them).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { postgresSkipReason, startPostgres, type TestPostgres } from '@bulwark/testkit'
import { startSystem, type System } from '../../scripts/lib/system.ts'
import { discover, loginWithPkce } from '../../scripts/lib/oidc-driver.ts'

const skip = postgresSkipReason()
let pg: TestPostgres | undefined
let system: System | undefined
let databaseUrl = ''
const tokens: Record<string, string> = {}

async function api(method: string, path: string, token?: string, body?: unknown) {
  const res = await system!.fetch(path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  let json: any
  try { json = JSON.parse(text) } catch { json = text }
  return { status: res.status, json }
}

before(async () => {
  if (skip) return
  pg = await startPostgres()
  databaseUrl = await pg.createDatabase('demo')
  system = await startSystem({ demo: true, env: { BULWARK_DATABASE_URL: databaseUrl } })
  const config = await discover(system, 'shop-cli')
  const scopes = system.creds.clients.find((c) => c.clientId === 'shop-cli')!.scopes.join(' ')
  for (const name of ['alice', 'admin']) {
    const user = system.creds.users.find((u) => u.username === name)!
    tokens[name] = (await loginWithPkce(system, config, user, scopes)).tokens.access_token
  }
}, { timeout: 360_000 })
after(async () => {
  await system?.stop()
  await pg?.stop()
})

test('postgres: the demo keeps its state in PostgreSQL, one schema per component, and status never shows the password', { skip }, async () => {
  const schemas = (await pg!.admin('SELECT nspname FROM pg_namespace WHERE nspname LIKE \'bulwark_%\' ORDER BY 1', new URL(databaseUrl).pathname.slice(1))).rows.map((r) => r.nspname)
  for (const name of ['policy', 'identity', 'vault', 'ca', 'catalog', 'users', 'orders', 'payments']) {
    assert.ok(schemas.includes(`bulwark_${name}`), `schema bulwark_${name} (have ${schemas.join(', ')})`)
    assert.equal(existsSync(`${system!.home}/data/${name}.db`), false, `no SQLite file for ${name}`)
  }
  const status = await system!.cli(['status', '--json'])
  assert.equal(status.code, 0, status.stderr)
  assert.equal(JSON.parse(status.stdout).storage.engine, 'postgres')
  assert.equal(status.stdout.includes(pg!.password), false)
  assert.equal(system!.output().includes(pg!.password), false, 'nothing the platform printed carries the password')
})

test('postgres: browse, add a card, order, read it back, and the admin directory', { skip }, async () => {
  const products = await api('GET', '/api/catalog/products?limit=2')
  assert.equal(products.status, 200)
  assert.equal(products.json.items.length, 2)
  const pm = await api('POST', '/api/payments/methods', tokens.alice, { cardNumber: '4242424242424242', expMonth: 12, expYear: new Date().getFullYear() + 1, cvc: '123' })
  assert.equal(pm.status, 201, JSON.stringify(pm.json))
  const order = await api('POST', '/api/orders', tokens.alice, { items: [{ productId: products.json.items[0].id, quantity: 2 }], paymentMethodId: pm.json.id })
  assert.equal(order.status, 201, JSON.stringify(order.json))
  const read = await api('GET', `/api/orders/${order.json.id}`, tokens.alice)
  assert.equal(read.status, 200)
  assert.equal(read.json.id, order.json.id)
  const patched = await api('PATCH', '/api/users/me', tokens.alice, { displayName: 'Alice on PostgreSQL' })
  assert.equal(patched.status, 200, JSON.stringify(patched.json))
  assert.equal((await api('GET', '/api/users/me', tokens.alice)).json.displayName, 'Alice on PostgreSQL')
  assert.equal((await api('GET', '/api/admin/users', tokens.alice)).status, 403)
  const directory = await api('GET', '/api/admin/users', tokens.admin)
  assert.equal(directory.status, 200)
  assert.deepEqual(directory.json.items.map((u: { username: string }) => u.username).sort(), ['admin', 'alice', 'bob'])
  // The rows are in PostgreSQL: the order is in bulwark_orders.
  const rows = await pg!.admin(`SELECT count(*)::int AS n FROM bulwark_orders.orders WHERE id = '${order.json.id.replace(/'/g, '')}'`, new URL(databaseUrl).pathname.slice(1))
  assert.equal(rows.rows[0].n, 1)
})

test('postgres: bulwark audit verify passes after the shop flows', { skip }, async () => {
  const verify = await system!.cli(['audit', 'verify'], 120_000)
  assert.equal(verify.code, 0, verify.stdout + verify.stderr)
})
