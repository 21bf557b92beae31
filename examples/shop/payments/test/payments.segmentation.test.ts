// With the default segmentation (`seg-gateway-never-internal`, and no permit
// for other workloads), the internal charge route is closed to every workload
// but orders at the `call` layer, before any token is looked at; public
// payment routes stay open to the gateway.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { api, startTestPlatform, type TestPlatform } from '../../../../packages/sdk/test/service-support/index.ts'
import { createPayments, type Payments } from '../src/index.ts'

let p: TestPlatform
let payments: Payments
let url: string

before(async () => {
  p = await startTestPlatform({ vault: true })
  payments = await createPayments({ cardKey: 'payments-cards', maxMethodsPerUser: 5, maxChargeAmount: 1000 }, { rt: await p.runtime('payments'), authorizer: p.authorizer })
  url = await p.serve('payments', payments.app)
})
after(async () => {
  await p.close()
  await payments.close()
})

test('the gateway is refused on /internal/charges with 403 BW_PEER_IDENTITY, orders is not', async () => {
  const gateway = await p.client('gateway', 'payments')
  const body = { paymentMethodId: 'pm_x', amount: 1, currency: 'USD', orderId: 'ord_x' }
  const res = await api(gateway, url, 'POST', '/internal/charges', { token: await p.identity.tokenFor('payments', { sub: 'alice' }), body })
  assert.equal(res.status, 403)
  assert.equal(res.body.code, 'BW_PEER_IDENTITY')
  assert.equal((await api(gateway, url, 'GET', '/payments/methods', { token: await p.identity.tokenFor('payments', { sub: 'alice' }) })).status, 200)
  const catalog = await p.client('catalog', 'payments')
  const fromCatalog = await api(catalog, url, 'POST', '/internal/charges', { token: await p.identity.tokenFor('payments', { sub: 'alice', actor: `spiffe://${p.ca.trustDomain}/svc/catalog` }), body })
  assert.equal(fromCatalog.status, 403)
  const orders = await p.client('orders', 'payments')
  const viaOrders = await api(orders, url, 'POST', '/internal/charges', { token: await p.identity.tokenFor('payments', { sub: 'alice', actor: `spiffe://${p.ca.trustDomain}/svc/orders` }), body })
  assert.equal(viaOrders.status, 404, 'past segmentation; the unknown payment method is a 404')
})
