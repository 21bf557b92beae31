// The catalog over real mTLS with the default policies: public reads through
// the gateway's identity, admin-only creation (BFLA), pagination caps
// (unrestricted resource consumption), strict bodies (mass assignment).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:tls'
import type { Agent } from 'undici'
import { api, startTestPlatform, type TestPlatform, type TestRuntime } from '../../../../packages/sdk/test/service-support/index.ts'
import { createCatalog, SEED_PRODUCTS, type Catalog } from '../src/index.ts'
import { openCatalogStore } from '../src/store.ts'
import { seedCatalog } from '../src/seed.ts'

let p: TestPlatform
let catalog: Catalog
let url: string
let gateway: Agent
let payments: Agent
let rt: TestRuntime

before(async () => {
  p = await startTestPlatform()
  rt = await p.runtime('catalog')
  catalog = await createCatalog({ seed: true, defaultPageSize: 20 }, { rt, authorizer: p.authorizer })
  url = await p.serve('catalog', catalog.app)
  gateway = await p.client('gateway', 'catalog')
  payments = await p.client('payments', 'catalog')
})
after(async () => {
  await p.close()
  await catalog.close()
})

const get = (path: string, token?: string, agent = gateway) => api(agent, url, 'GET', path, { token })

test('seeds the demo products once, on first start', async () => {
  assert.equal(await catalog.store.count(), SEED_PRODUCTS.length)
  const again = await openCatalogStore({ sqlitePath: rt.paths.database('catalog') })
  assert.equal(await seedCatalog(again, Date.now()), 0)
  assert.equal(await again.count(), SEED_PRODUCTS.length)
  await again.close()
})

test('anonymous callers (no token) list and read products through the gateway', async () => {
  const list = await get('/catalog/products')
  assert.equal(list.status, 200)
  assert.equal(list.body.items.length, SEED_PRODUCTS.length)
  assert.equal(list.body.nextCursor, null)
  const one = await get(`/catalog/products/${list.body.items[0].id}`)
  assert.equal(one.status, 200)
  assert.equal(one.body.name, SEED_PRODUCTS[0]!.name)
  assert.equal((await get('/catalog/products/prod_nope')).status, 404)
})

test('cursor pagination walks every product exactly once', async () => {
  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const res = await get(`/catalog/products?limit=5${cursor ? `&cursor=${cursor}` : ''}`)
    assert.equal(res.status, 200)
    assert.ok(res.body.items.length <= 5)
    seen.push(...res.body.items.map((i: { id: string }) => i.id))
    cursor = res.body.nextCursor
    pages++
  } while (cursor && pages < 10)
  assert.equal(pages, 3)
  assert.equal(new Set(seen).size, SEED_PRODUCTS.length)
})

test('page size is capped at 100 and bad paging input is a 400 (API4:2023)', async () => {
  for (const query of ['limit=101', 'limit=0', 'limit=-1', 'limit=abc', 'cursor=%2e%2e%2f', 'cursor=czk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ', 'offset=5']) {
    const res = await get(`/catalog/products?${query}`)
    assert.equal(res.status, 400, query)
    assert.match(res.headers['content-type'] as string, /application\/problem\+json/)
  }
  assert.equal((await get('/catalog/products?limit=100')).status, 200)
})

test('the mTLS identity is still required: a workload policy does not allow is refused even for public reads', async () => {
  const res = await get('/catalog/products', undefined, payments)
  assert.equal(res.status, 403)
  assert.equal(res.body.code, 'BW_PEER_IDENTITY')
  const address = new URL(url)
  const refused = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: address.hostname, port: Number(address.port), rejectUnauthorized: false, minVersion: 'TLSv1.3' })
    socket.on('secureConnect', () => { socket.write('GET /catalog/products HTTP/1.1\r\nhost: x\r\n\r\n') })
    socket.on('data', () => { socket.destroy(); resolve(false) })
    socket.on('error', () => resolve(true))
    socket.on('close', () => resolve(true))
  })
  assert.equal(refused, true, 'a client without a certificate gets no answer')
})

test('creating a product is for admins only (API5:2023 BFLA), decided by policy', async () => {
  const body = { name: 'Security key v2', description: 'NFC + USB-C', price: 5500 }
  const anonymous = await api(gateway, url, 'POST', '/catalog/products', { body })
  assert.equal(anonymous.status, 401)
  const customer = await api(gateway, url, 'POST', '/catalog/products', { body, token: await p.identity.tokenFor('catalog', { sub: 'alice', roles: ['customer'], amr: ['pwd', 'otp'] }) })
  assert.equal(customer.status, 403)
  assert.equal(customer.body.code, 'BW_AUTHZ_DENIED')
  const admin = await p.identity.tokenFor('catalog', { sub: 'admin', roles: ['admin'], amr: ['pwd', 'otp'] })
  const created = await api(gateway, url, 'POST', '/catalog/products', { body, token: admin })
  assert.equal(created.status, 201)
  assert.match(created.body.id, /^prod_/)
  assert.equal(created.body.price, 5500)
  assert.equal((await get(`/catalog/products/${created.body.id}`)).status, 200)
  const denials = rt.audit.events.filter((e) => e.type === 'authz.denied' && e.action === 'catalog.createProduct')
  assert.deepEqual(denials.map((e) => e.actor.id), ['alice'])
  // The admin's allowed action is a security decision too: audited.
  const adminActions = rt.audit.events.filter((e) => e.type === 'admin.action' && e.action === 'catalog.createProduct')
  assert.deepEqual(adminActions.map((e) => [e.actor.id, e.outcome, e.resource]), [['admin', 'success', 'Catalog::"catalog"']])
})

test('an admin without a second factor in the token cannot create a product, and nothing is created', async () => {
  const countProducts = async () => {
    let total = 0
    for (let cursor = ''; ;) {
      const page = await get(`/catalog/products?limit=100${cursor ? `&cursor=${cursor}` : ''}`)
      total += page.body.items.length
      if (!page.body.nextCursor) return total
      cursor = page.body.nextCursor
    }
  }
  const before = await countProducts()
  const body = { name: 'Password-only product', price: 100 }
  const weak = await api(gateway, url, 'POST', '/catalog/products', { body, token: await p.identity.tokenFor('catalog', { sub: 'admin', roles: ['admin'], amr: ['pwd'] }) })
  assert.equal(weak.status, 403)
  assert.equal(weak.body.code, 'BW_AUTHZ_DENIED')
  assert.equal(await countProducts(), before)
  assert.ok(rt.audit.events.some((e) => e.type === 'authz.denied' && e.action === 'catalog.createProduct' && e.actor.id === 'admin'))
})

test('a product body with unknown or server-owned fields is refused (API3:2023 mass assignment)', async () => {
  const admin = await p.identity.tokenFor('catalog', { sub: 'admin', roles: ['admin'], amr: ['otp'] })
  for (const body of [{ name: 'x', price: 1, id: 'prod_mine' }, { name: 'x', price: 1, createdAt: '2000-01-01' }, { name: 'x', price: '1' }, { name: 'x', price: -5 }, { name: '', price: 1 }]) {
    const res = await api(gateway, url, 'POST', '/catalog/products', { body, token: admin })
    assert.equal(res.status, 400, JSON.stringify(body))
  }
})
