// The payments store on both engines (embedded SQLite and a real PostgreSQL
// from testkit), and two payments replicas over mTLS on one PostgreSQL: a
// charge for one order asked at both at once is recorded once, the per-user
// cap on methods holds when adds race, a method added at one is listed and
// deleted at the other.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { postgresSkipReason, startPostgres, tempDir, type TestPostgres } from '@bulwark/testkit'
import { createServiceClient } from '@bulwark/sdk/service'
import { api, startTestPlatform } from '../../../../packages/sdk/test/service-support/index.ts'
import { createPayments } from '../src/index.ts'
import { openPaymentsStore, type PaymentsStore, type PaymentsStoreOptions } from '../src/store.ts'
import { createTransit, type Transit } from '../src/transit.ts'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
const dir = tempDir('bulwark-payments-store-')

before(async () => { if (!pgSkip) server = await startPostgres() })
after(async () => {
  await server?.stop()
  dir.remove()
})

const engines: Array<{ name: string; skip: string | false; place(): Promise<PaymentsStoreOptions> }> = [
  { name: 'sqlite', skip: false, place: async () => ({ sqlitePath: join(dir.path, `payments-${Math.random().toString(36).slice(2)}.db`) }) },
  { name: 'postgres', skip: pgSkip, place: async () => ({ sqlitePath: 'unused', storage: { postgres: { url: await server!.createDatabase('payments') } } }) },
]

const card = (owner: string, n = 0) => ({ owner, cardCiphertext: `bw:v1:cipher-${owner}-${n}`, last4: '4242', brand: 'visa', expMonth: 12, expYear: 2099 })
const charge = (orderId: string, paymentMethodId: string, owner: string, amount = 500) => ({ orderId, paymentMethodId, owner, amount, currency: 'USD', status: 'succeeded' })

/** Opens two stores on one PostgreSQL database (two replicas), or one SQLite store twice over (one process opens its file once). */
async function openPair(engine: (typeof engines)[number]): Promise<[PaymentsStore, PaymentsStore]> {
  const place = await engine.place()
  const a = await openPaymentsStore(place)
  return [a, engine.name === 'postgres' ? await openPaymentsStore(place) : a]
}

for (const engine of engines) {
  test(`${engine.name}: methods are added, listed, counted and wiped to tombstones; a charge per order keeps its method`, { skip: engine.skip }, async () => {
    const store = await openPaymentsStore(await engine.place())
    try {
      const made = await store.addMethod(card('ann'), Date.UTC(2026, 0, 1), 5)
      const other = await store.addMethod(card('ann', 1), Date.UTC(2026, 0, 2), 5)
      assert.deepEqual(await store.getMethod(made.id), made)
      assert.deepEqual((await store.listMethods('ann', 10)).map((m) => m.id), [made.id, other.id])
      assert.equal(await store.countMethods('ann'), 2)
      const first = await store.addCharge(charge('ord_1', made.id, 'ann', 1234), Date.UTC(2026, 0, 3))
      assert.equal(first.created, true)
      assert.equal(first.charge.amount, 1234)
      assert.deepEqual(await store.chargeForOrder('ord_1'), first.charge)
      assert.equal(await store.deleteMethod(made.id, 'bob', Date.now()), false)
      assert.equal(await store.deleteMethod(made.id, 'ann', Date.now()), true)
      assert.equal(await store.deleteMethod(made.id, 'ann', Date.now()), false)
      assert.equal(await store.getMethod(made.id), undefined)
      assert.equal(await store.countMethods('ann'), 1)
      // The tombstone keeps the charge's foreign key; nothing of the card is left in the row.
      assert.deepEqual(await store.chargeForOrder('ord_1'), first.charge)
      assert.deepEqual(await store.sql.one('SELECT card_ciphertext, last4 FROM methods WHERE id = ?', [made.id]), { card_ciphertext: '', last4: '' })
    } finally {
      await store.close()
    }
  })

  test(`${engine.name}: a charge for an order already charged is not recorded again, even when both are asked at once`, { skip: engine.skip }, async () => {
    const [a, b] = await openPair(engine)
    try {
      const pm = await a.addMethod(card('cy'), Date.now(), 5)
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? b : a).addCharge(charge('ord_race', pm.id, 'cy'), Date.now())))
      assert.equal(results.filter((r) => r.created).length, 1)
      assert.equal(new Set(results.map((r) => r.charge.id)).size, 1, 'every caller gets the one charge')
      assert.equal((await b.sql.one<{ n: number }>('SELECT COUNT(*) AS n FROM charges WHERE order_id = ?', ['ord_race']))!.n, 1)
    } finally {
      await a.close()
      await b.close()
    }
  })

  test(`${engine.name}: adds racing past the per-user cap store at most the cap`, { skip: engine.skip }, async () => {
    const [a, b] = await openPair(engine)
    try {
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => (i % 2 ? b : a).addMethod(card('dee', i), Date.now(), 3)))
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3)
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'BW_PAYMENTS_TOO_MANY_METHODS')
      assert.equal(await a.countMethods('dee'), 3)
    } finally {
      await a.close()
      await b.close()
    }
  })
}

/** Transit that holds every decrypt until `n` are waiting (or 5 s pass): both requests are past their read when either records. */
function heldAtDecrypt(transit: Transit, gate: { waiting: Array<() => void>; n: number }): Transit {
  return {
    ...transit,
    async decrypt(...args) {
      await new Promise<void>((resolve) => {
        gate.waiting.push(resolve)
        if (gate.waiting.length >= gate.n) for (const go of gate.waiting.splice(0)) go()
        else setTimeout(resolve, 5000).unref()
      })
      return await transit.decrypt(...args)
    },
  }
}

test('postgres: a charge asked at two payments replicas at once for one order is recorded and audited once', { skip: pgSkip }, async () => {
  const storage = { postgres: { url: await server!.createDatabase('paymentssvc') } }
  const p = await startTestPlatform({ vault: true })
  const gate = { waiting: [] as Array<() => void>, n: 2 }
  const replicas = await Promise.all([0, 1].map(async () => {
    const rt = await p.runtime('payments')
    const vault = rt.peer('vault')
    const transit = heldAtDecrypt(createTransit({ url: vault.url, dispatcher: vault.dispatcher }), gate)
    const payments = await createPayments({ cardKey: 'payments-cards', maxMethodsPerUser: 5, maxChargeAmount: 1_000_000 }, {
      rt: { ...rt, bootstrap: { ...rt.bootstrap, storage } }, authorizer: p.authorizer, transit,
    })
    return { rt, payments }
  }))
  try {
    const [a, b] = replicas
    assert.match(a!.payments.store.location, /^postgres 127\.0\.0\.1:\d+\/paymentssvc_[0-9a-f]+ schema bulwark_payments$/)
    const urlA = await p.serve('payments', a!.payments.app)
    const urlB = await p.serve('payments', b!.payments.app)
    const gateway = await p.client('gateway', 'payments')
    const token = () => p.identity.tokenFor('payments', { sub: 'olga' })
    const added = await api(gateway, urlA, 'POST', '/payments/methods', { token: await token(), body: { cardNumber: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' } })
    assert.equal(added.status, 201)
    assert.deepEqual((await api(gateway, urlB, 'GET', '/payments/methods', { token: await token() })).body.items.map((m: { id: string }) => m.id), [added.body.id])

    // What orders does, at replica A and at replica B at once: exchange the user's token, then charge.
    const orders = createServiceClient(await p.runtime('orders'))
    const body = { paymentMethodId: added.body.id, amount: 4200, currency: 'USD', orderId: 'ord_replicas' }
    const subjectToken = await p.identity.tokenFor('orders', { sub: 'olga' })
    const chargeAt = (url: string, asked = body) => {
      p.peers.payments = url // read when the call starts
      return orders.callService<{ id: string; status: string }>('payments', { method: 'POST', path: '/internal/charges', body: asked, subjectToken })
    }
    const answers = await Promise.all([chargeAt(urlA), chargeAt(urlB)])
    assert.deepEqual(answers.map((r) => r.status).toSorted(), [200, 201], JSON.stringify(answers.map((r) => r.body)))
    assert.equal(answers[0]!.body.id, answers[1]!.body.id, 'both answers carry the one charge')
    assert.equal(gate.waiting.length, 0)
    assert.equal((await b!.payments.store.sql.one<{ n: number }>('SELECT COUNT(*) AS n FROM charges WHERE order_id = ?', ['ord_replicas']))!.n, 1)
    const charged = replicas.flatMap((r) => r.rt.audit.events.filter((e) => e.type === 'payment.charged'))
    assert.equal(charged.length, 1, JSON.stringify(charged))
    assert.equal(charged[0]!.details?.chargeId, answers[0]!.body.id)

    // Retried later at either replica: the same charge, 200; a different amount for that order: 409.
    assert.equal((await chargeAt(urlA)).status, 200)
    assert.equal((await chargeAt(urlB, { ...body, amount: 1 })).status, 409)

    // Deleted at B: A no longer lists or charges it.
    assert.equal((await api(gateway, urlB, 'DELETE', `/payments/methods/${added.body.id}`, { token: await token() })).status, 204)
    assert.deepEqual((await api(gateway, urlA, 'GET', '/payments/methods', { token: await token() })).body.items, [])
    assert.equal((await chargeAt(urlA)).status, 404)
  } finally {
    await p.close()
    for (const r of replicas) await r.payments.close()
  }
})
