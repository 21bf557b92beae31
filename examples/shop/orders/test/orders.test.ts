// Orders end to end across real services over mTLS: catalog (prices),
// payments (charge through token exchange, real vault transit), orders; the
// default policies (including `seg-orders-to-catalog-read`).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Agent } from 'undici'
import { api, startTestPlatform, type TestPlatform, type TestRuntime } from '../../../../packages/sdk/test/service-support/index.ts'
import { createOrders, type Orders } from '../src/index.ts'
import { createCatalog, type Catalog } from '../../catalog/src/index.ts'
import { createPayments, type Payments } from '../../payments/src/index.ts'

let p: TestPlatform
let orders: Orders
let catalog: Catalog
let payments: Payments
let ordersRt: TestRuntime
let url: string
let toOrders: Agent
let toPayments: Agent
let products: Array<{ id: string; price: number }>
const cards: Record<string, string> = {}

before(async () => {
  p = await startTestPlatform({ vault: true })
  catalog = await createCatalog({ seed: true, defaultPageSize: 20 }, { rt: await p.runtime('catalog'), authorizer: p.authorizer })
  const catalogUrl = await p.serve('catalog', catalog.app)
  payments = await createPayments({ cardKey: 'payments-cards', maxMethodsPerUser: 5, maxChargeAmount: 10_000_000 }, { rt: await p.runtime('payments'), authorizer: p.authorizer })
  const paymentsUrl = await p.serve('payments', payments.app)
  ordersRt = await p.runtime('orders')
  orders = await createOrders({ defaultPageSize: 20, maxItems: 50 }, { rt: ordersRt, authorizer: p.authorizer })
  url = await p.serve('orders', orders.app)
  toOrders = await p.client('gateway', 'orders')
  toPayments = await p.client('gateway', 'payments')
  const toCatalog = await p.client('gateway', 'catalog')
  products = (await api(toCatalog, catalogUrl, 'GET', '/catalog/products?limit=3')).body.items
  for (const sub of ['alice', 'bob']) {
    const res = await api(toPayments, paymentsUrl, 'POST', '/payments/methods', {
      token: await p.identity.tokenFor('payments', { sub }), body: { cardNumber: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' },
    })
    assert.equal(res.status, 201)
    cards[sub] = res.body.id
  }
})
after(async () => {
  await p.close()
  for (const s of [orders, catalog, payments]) await s.close()
})

const token = (sub: string, extra: { roles?: string[]; amr?: string[]; clientId?: string; scope?: string } = {}) => p.identity.tokenFor('orders', { sub, ...extra })
const place = async (sub: string, body: unknown) => api(toOrders, url, 'POST', '/orders', { token: await token(sub), body })

let aliceOrder: string

test('places an order: prices from the catalog, charged through payments, 201 with the order', async () => {
  const exchangesBefore = p.identity.exchanges
  const res = await place('alice', { items: [{ productId: products[0]!.id, quantity: 2 }, { productId: products[1]!.id, quantity: 1 }], paymentMethodId: cards.alice })
  assert.equal(res.status, 201, JSON.stringify(res.body))
  assert.match(res.body.id, /^ord_/)
  assert.equal(res.body.status, 'paid')
  assert.equal(res.body.total, products[0]!.price * 2 + products[1]!.price)
  assert.match(res.body.chargeId, /^ch_/)
  assert.equal(p.identity.exchanges, exchangesBefore + 1, 'orders exchanged the token once, for payments')
  aliceOrder = res.body.id
  const charge = await payments.store.chargeForOrder(aliceOrder)
  assert.equal(charge?.amount, res.body.total)
  assert.equal(charge?.owner, 'alice')
})

test('the owner reads the order; anyone else gets 404, like a missing order (API1:2023 BOLA)', async () => {
  const own = await api(toOrders, url, 'GET', `/orders/${aliceOrder}`, { token: await token('alice') })
  assert.equal(own.status, 200)
  assert.equal(own.body.id, aliceOrder)
  const before = ordersRt.audit.events.length
  const bob = await api(toOrders, url, 'GET', `/orders/${aliceOrder}`, { token: await token('bob') })
  const missing = await api(toOrders, url, 'GET', '/orders/ord_doesnotexist', { token: await token('bob') })
  assert.equal(bob.status, 404)
  assert.equal(missing.status, 404)
  assert.deepEqual({ ...bob.body, instance: '' }, { ...missing.body, instance: '' })
  assert.ok(ordersRt.audit.events.slice(before).some((e) => e.type === 'authz.denied' && e.actor.id === 'bob' && e.resource === `Order::"${aliceOrder}"`))
})

test('admins and the reporting client (orders:read:all) read any order; other clients do not', async () => {
  const admin = await api(toOrders, url, 'GET', `/orders/${aliceOrder}`, { token: await token('admin', { roles: ['admin'], amr: ['pwd', 'otp'] }) })
  assert.equal(admin.status, 200)
  const job = await token('reporting-job', { clientId: 'reporting-job', scope: 'orders:read:all', roles: [] })
  assert.equal((await api(toOrders, url, 'GET', `/orders/${aliceOrder}`, { token: job })).status, 200)
  const all = await api(toOrders, url, 'GET', '/orders', { token: job })
  assert.equal(all.status, 200)
  assert.ok(all.body.items.some((o: { id: string }) => o.id === aliceOrder))
  const noScope = await token('other-job', { clientId: 'other-job', scope: 'orders:read', roles: [] })
  assert.equal((await api(toOrders, url, 'GET', '/orders', { token: noScope })).status, 403)
})

test('an admin without a second factor in the token gets 404 on another user\'s order and 403 on the order list', async () => {
  const weak = await token('admin', { roles: ['admin'], amr: ['pwd'] })
  const read = await api(toOrders, url, 'GET', `/orders/${aliceOrder}`, { token: weak })
  assert.equal(read.status, 404)
  assert.equal(JSON.stringify(read.body).includes('alice'), false)
  const list = await api(toOrders, url, 'GET', '/orders', { token: weak })
  assert.equal(list.status, 403)
  assert.ok(ordersRt.audit.events.some((e) => e.type === 'authz.denied' && e.actor.id === 'admin' && e.resource === `Order::"${aliceOrder}"`))
})

test('paying with someone else\'s payment method is refused and nothing is stored or charged', async () => {
  const res = await place('bob', { items: [{ productId: products[0]!.id, quantity: 1 }], paymentMethodId: cards.alice })
  assert.equal(res.status, 400)
  assert.equal(res.body.code, 'BW_ORDERS_UNKNOWN_PAYMENT_METHOD')
  const bobs = await api(toOrders, url, 'GET', '/orders', { token: await token('bob') })
  assert.deepEqual(bobs.body.items, [])
})

test('client-supplied prices, owners or statuses are refused (API3:2023 mass assignment)', async () => {
  const item = { productId: products[0]!.id, quantity: 1 }
  for (const body of [
    { items: [{ ...item, unitPrice: 1 }], paymentMethodId: cards.alice },
    { items: [item], paymentMethodId: cards.alice, total: 1 },
    { items: [item], paymentMethodId: cards.alice, owner: 'bob' },
    { items: [item], paymentMethodId: cards.alice, status: 'paid' },
  ]) {
    const res = await place('alice', body)
    assert.equal(res.status, 400, JSON.stringify(body))
    assert.equal(res.body.code, 'BW_VALIDATION_FAILED')
  }
})

test('bounds: quantities, item counts, page sizes (API4:2023) and unknown products', async () => {
  const pm = cards.alice
  const bad = [
    { items: [], paymentMethodId: pm },
    { items: [{ productId: products[0]!.id, quantity: 0 }], paymentMethodId: pm },
    { items: [{ productId: products[0]!.id, quantity: 1001 }], paymentMethodId: pm },
    { items: Array.from({ length: 101 }, () => ({ productId: products[0]!.id, quantity: 1 })), paymentMethodId: pm },
  ]
  for (const body of bad) assert.equal((await place('alice', body)).status, 400)
  const unknown = await place('alice', { items: [{ productId: 'prod_nope', quantity: 1 }], paymentMethodId: pm })
  assert.equal(unknown.status, 400)
  assert.equal(unknown.body.code, 'BW_ORDERS_UNKNOWN_PRODUCT')
  for (const q of ['limit=101', 'limit=0', 'cursor=!!', 'owner=bob']) {
    assert.equal((await api(toOrders, url, 'GET', `/orders?${q}`, { token: await token('alice') })).status, 400, q)
  }
})

test('lists only the caller\'s own orders, paginated', async () => {
  for (let i = 0; i < 2; i++) assert.equal((await place('alice', { items: [{ productId: products[2]!.id, quantity: 1 }], paymentMethodId: cards.alice })).status, 201)
  assert.equal((await place('bob', { items: [{ productId: products[2]!.id, quantity: 1 }], paymentMethodId: cards.bob })).status, 201)
  const first = await api(toOrders, url, 'GET', '/orders?limit=2', { token: await token('alice') })
  assert.equal(first.body.items.length, 2)
  assert.ok(first.body.nextCursor)
  const second = await api(toOrders, url, 'GET', `/orders?limit=2&cursor=${first.body.nextCursor}`, { token: await token('alice') })
  assert.equal(second.body.items.length, 1)
  assert.equal(second.body.nextCursor, null)
  const ids = [...first.body.items, ...second.body.items].map((o: { id: string }) => o.id)
  assert.equal(new Set(ids).size, 3)
  assert.ok(!('owner' in first.body.items[0]))
})

test('payments refuses a charge that did not come through orders', async () => {
  // The gateway cannot charge by itself: its token's act is the gateway, not orders.
  const res = await api(toPayments, p.peers.payments!, 'POST', '/internal/charges', {
    token: await p.identity.tokenFor('payments', { sub: 'alice' }),
    body: { paymentMethodId: cards.alice, amount: 1, currency: 'USD', orderId: 'ord_gw' },
  })
  assert.equal(res.status, 403)
})

test('every orders route needs a token addressed to orders (API2:2023 broken authentication)', async () => {
  const wrongAudience = await p.identity.tokenFor('payments', { sub: 'alice' })
  for (const [method, path] of [['GET', '/orders'], ['POST', '/orders'], ['GET', `/orders/${aliceOrder}`]] as const) {
    const body = method === 'POST' ? { items: [{ productId: products[0]!.id, quantity: 1 }], paymentMethodId: cards.alice } : undefined
    assert.equal((await api(toOrders, url, method, path, { body })).status, 401, `${method} ${path} without a token`)
    assert.equal((await api(toOrders, url, method, path, { body, token: wrongAudience })).status, 401, `${method} ${path} with a payments token`)
  }
})

// Last: it places an order for bob, which the tests above assume he has not.
test('placing an order is audited as order.placed: who, which order, the outcome; a refused one is a failure; no card data', async () => {
  const before = ordersRt.audit.events.length
  const ok = await place('bob', { items: [{ productId: products[0]!.id, quantity: 1 }], paymentMethodId: cards.bob })
  assert.equal(ok.status, 201, JSON.stringify(ok.body))
  const refused = await place('bob', { items: [{ productId: products[0]!.id, quantity: 1 }], paymentMethodId: 'pm_doesnotexist' })
  assert.equal(refused.status >= 400 && refused.status < 500, true, JSON.stringify(refused.body))
  const events = ordersRt.audit.events.slice(before).filter((e) => e.type === 'order.placed')
  assert.equal(events.length, 2, JSON.stringify(ordersRt.audit.events.slice(before)))
  const [placed, failed] = events
  assert.deepEqual({ actor: placed!.actor, action: placed!.action, resource: placed!.resource, outcome: placed!.outcome }, {
    actor: { kind: 'user', id: 'bob', clientId: 'shop-cli' }, action: 'orders.create', resource: `Order::"${ok.body.id}"`, outcome: 'success',
  })
  assert.deepEqual(placed!.details, { total: ok.body.total, currency: ok.body.currency, items: 1, paymentMethodId: cards.bob, chargeId: ok.body.chargeId })
  assert.equal(placed!.requestId !== undefined, true)
  assert.deepEqual({ resource: failed!.resource, outcome: failed!.outcome, reason: failed!.reason }, { resource: 'OrderBook::"bob"', outcome: 'failure', reason: refused.body.code })
  const text = JSON.stringify(events)
  for (const secret of ['4242424242424242', '"123"', 'cvc', 'last4', 'cardNumber']) assert.equal(text.includes(secret), false, `${secret} in ${text}`)
})
