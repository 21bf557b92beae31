// API10:2023 unsafe consumption of APIs: orders treats the catalog's answer
// as input. A catalog that answers a malformed product (here a stand-in
// catalog built on the same sdk) makes the order fail with 502, and nothing
// is charged or stored.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createSecureService } from '@bulwark/sdk/service'
import { api, startTestPlatform, type TestPlatform } from '../../../../packages/sdk/test/service-support/index.ts'
import { createOrders, type Orders } from '../src/index.ts'

let p: TestPlatform
let orders: Orders
let payments: { calls: number }

before(async () => {
  p = await startTestPlatform()
  const catalog = await createSecureService(await p.runtime('catalog'), { authorizer: p.authorizer })
  catalog.get<{ Params: { id: string } }>('/catalog/products/:id', { config: { auth: 'optional' } }, async (request) =>
    request.params.id === 'prod_free' ? { id: 'prod_free', name: 'x', price: '0; DROP', currency: 'USD' } : { id: 'prod_other', name: 'y', price: 1, currency: 'USD' })
  await p.serve('catalog', catalog)
  payments = { calls: 0 }
  const pay = await createSecureService(await p.runtime('payments'), { authorizer: p.authorizer })
  pay.post('/internal/charges', async () => { payments.calls++; return { id: 'ch_x', status: 'succeeded' } })
  await p.serve('payments', pay)
  orders = await createOrders({ defaultPageSize: 20, maxItems: 50 }, { rt: await p.runtime('orders'), authorizer: p.authorizer })
  await p.serve('orders', orders.app)
})
after(async () => {
  await p.close()
  await orders.close()
})

test('a malformed price or a product answered under another id is a 502, with no charge and no order', async () => {
  const gateway = await p.client('gateway', 'orders')
  for (const productId of ['prod_free', 'prod_swapped']) {
    const res = await api(gateway, p.peers.orders!, 'POST', '/orders', {
      token: await p.identity.tokenFor('orders', { sub: 'alice' }), body: { items: [{ productId, quantity: 1 }], paymentMethodId: 'pm_x' },
    })
    assert.equal(res.status, 502, productId)
    assert.equal(res.body.code, 'BW_ORDERS_CATALOG_UNAVAILABLE')
    assert.equal(JSON.stringify(res.body).includes('DROP'), false)
  }
  assert.equal(payments.calls, 0)
  assert.equal((await orders.store.list('alice', 10, 0)).items.length, 0)
})
