// The orders store on both engines (embedded SQLite and a real PostgreSQL
// from testkit), and two orders replicas over mTLS on one PostgreSQL: an
// order placed through one is listed and read through the other.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { postgresSkipReason, startPostgres, tempDir, type TestPostgres } from '@bulwark/testkit'
import { api, startTestPlatform } from '../../../../packages/sdk/test/service-support/index.ts'
import { createOrders } from '../src/index.ts'
import { openOrdersStore, type Order, type OrdersStoreOptions } from '../src/store.ts'
import { createCatalog } from '../../catalog/src/index.ts'
import { createPayments } from '../../payments/src/index.ts'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
const dir = tempDir('bulwark-orders-store-')

before(async () => { if (!pgSkip) server = await startPostgres() })
after(async () => {
  await server?.stop()
  dir.remove()
})

const engines: Array<{ name: string; skip: string | false; place(): Promise<OrdersStoreOptions> }> = [
  { name: 'sqlite', skip: false, place: async () => ({ sqlitePath: join(dir.path, `orders-${Math.random().toString(36).slice(2)}.db`) }) },
  { name: 'postgres', skip: pgSkip, place: async () => ({ sqlitePath: 'unused', storage: { postgres: { url: await server!.createDatabase('orders') } } }) },
]

const order = (id: string, owner: string, total: number): Order => ({
  id, owner, status: 'paid', items: [{ productId: 'prod_a', name: 'A', quantity: 2, unitPrice: total / 2 }], total, currency: 'USD',
  paymentMethodId: 'pm_x', chargeId: `ch_${id}`, createdAt: new Date(Date.UTC(2026, 0, 1)).toISOString(),
})

for (const engine of engines) {
  test(`${engine.name}: stores orders with their items, reads one back, and pages own and all orders by key`, { skip: engine.skip }, async () => {
    const store = await openOrdersStore(await engine.place())
    try {
      const made: Order[] = []
      for (let i = 0; i < 7; i++) {
        const o = order(store.newId(), i % 3 === 0 ? 'bob' : 'ann', 1000 * (i + 1))
        await store.insert(o)
        made.push(o)
      }
      assert.deepEqual(await store.get(made[1]!.id), made[1])
      assert.equal(await store.get('ord_nope'), undefined)
      const walk = async (owner: string | undefined) => {
        const seen: Order[] = []
        let after = 0
        for (;;) {
          const page = await store.list(owner, 2, after)
          seen.push(...page.items)
          if (!page.more) break
          after = page.lastSeq!
          assert.equal(typeof after, 'number')
        }
        return seen
      }
      assert.deepEqual(await walk('ann'), made.filter((o) => o.owner === 'ann'))
      assert.deepEqual(await walk(undefined), made)
      assert.deepEqual((await store.list('carol', 10, 0)).items, [])
      // The id is unique: the same order cannot be stored twice.
      await assert.rejects(store.insert(made[0]!))
    } finally {
      await store.close()
    }
  })
}

test('postgres: an order placed through one orders replica is listed and read through the other', { skip: pgSkip }, async () => {
  const storage = { postgres: { url: await server!.createDatabase('orderssvc') } }
  const p = await startTestPlatform({ vault: true })
  const catalog = await createCatalog({ seed: true, defaultPageSize: 20 }, { rt: await p.runtime('catalog'), authorizer: p.authorizer })
  const payments = await createPayments({ cardKey: 'payments-cards', maxMethodsPerUser: 5, maxChargeAmount: 10_000_000 }, { rt: await p.runtime('payments'), authorizer: p.authorizer })
  const replicas = await Promise.all([0, 1].map(async () => {
    const rt = await p.runtime('orders')
    return await createOrders({ defaultPageSize: 20, maxItems: 50 }, { rt: { ...rt, bootstrap: { ...rt.bootstrap, storage } }, authorizer: p.authorizer })
  }))
  try {
    const [a, b] = replicas
    assert.match(a!.store.location, /^postgres 127\.0\.0\.1:\d+\/orderssvc_[0-9a-f]+ schema bulwark_orders$/)
    const catalogUrl = await p.serve('catalog', catalog.app)
    const paymentsUrl = await p.serve('payments', payments.app)
    const urlA = await p.serve('orders', a!.app)
    const urlB = await p.serve('orders', b!.app)
    const product = (await api(await p.client('gateway', 'catalog'), catalogUrl, 'GET', '/catalog/products?limit=1')).body.items[0]
    const pm = await api(await p.client('gateway', 'payments'), paymentsUrl, 'POST', '/payments/methods', {
      token: await p.identity.tokenFor('payments', { sub: 'alice' }), body: { cardNumber: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' },
    })
    assert.equal(pm.status, 201)
    const gateway = await p.client('gateway', 'orders')
    const token = (sub: string) => p.identity.tokenFor('orders', { sub })
    const placed = await api(gateway, urlA, 'POST', '/orders', { token: await token('alice'), body: { items: [{ productId: product.id, quantity: 2 }], paymentMethodId: pm.body.id } })
    assert.equal(placed.status, 201, JSON.stringify(placed.body))
    const listed = await api(gateway, urlB, 'GET', '/orders', { token: await token('alice') })
    assert.equal(listed.status, 200)
    assert.deepEqual(listed.body.items, [placed.body])
    assert.deepEqual((await api(gateway, urlB, 'GET', `/orders/${placed.body.id}`, { token: await token('alice') })).body, placed.body)
    // Ownership holds at the other replica too: someone else gets 404 there.
    assert.equal((await api(gateway, urlB, 'GET', `/orders/${placed.body.id}`, { token: await token('bob') })).status, 404)
    // Pages walk orders from both replicas once each, in order.
    const second = await api(gateway, urlB, 'POST', '/orders', { token: await token('alice'), body: { items: [{ productId: product.id, quantity: 1 }], paymentMethodId: pm.body.id } })
    assert.equal(second.status, 201)
    const first = await api(gateway, urlA, 'GET', '/orders?limit=1', { token: await token('alice') })
    const rest = await api(gateway, urlB, 'GET', `/orders?limit=1&cursor=${first.body.nextCursor}`, { token: await token('alice') })
    assert.deepEqual([...first.body.items, ...rest.body.items].map((o: { id: string }) => o.id), [placed.body.id, second.body.id])
    assert.equal(rest.body.nextCursor, null)
  } finally {
    await p.close()
    for (const s of [...replicas, catalog, payments]) await s.close()
  }
})
