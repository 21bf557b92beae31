// Payments over real mTLS with the real vault (transit) and default policies:
// card validation, encryption at rest, the CVC never persisted, own-only
// listing (BOLA), and the internal charge route reachable only through
// orders' token exchange.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Agent } from 'undici'
import { serviceSpiffeId } from '@bulwark/core'
import { api, startTestPlatform, type TestPlatform, type TestRuntime } from '../../../../packages/sdk/test/service-support/index.ts'
import { createServiceClient } from '@bulwark/sdk/service'
import { createPayments, luhnValid, type Payments } from '../src/index.ts'
import { openPaymentsStore } from '../src/store.ts'

const CARD = '4111111111111111'
const CVC = '8317'
let p: TestPlatform
let payments: Payments
let rt: TestRuntime
let url: string
let gateway: Agent
let catalogPeer: Agent
let ordersRt: TestRuntime

before(async () => {
  p = await startTestPlatform({ vault: true })
  rt = await p.runtime('payments')
  payments = await createPayments({ cardKey: 'payments-cards', maxMethodsPerUser: 3, maxChargeAmount: 1_000_000 }, { rt, authorizer: p.authorizer })
  url = await p.serve('payments', payments.app)
  gateway = await p.client('gateway', 'payments')
  catalogPeer = await p.client('catalog', 'payments')
  ordersRt = await p.runtime('orders')
})
after(async () => {
  await p.close()
  await payments.close()
})

const token = (sub: string) => p.identity.tokenFor('payments', { sub })
const future = new Date().getUTCFullYear() + 2

async function addCard(sub: string, card = CARD, cvc = CVC) {
  return await api(gateway, url, 'POST', '/payments/methods', { token: await token(sub), body: { cardNumber: card, expMonth: 12, expYear: future, cvc } })
}

/** True when `digits` occurs in `text` as a number of its own (not inside a longer run of digits). */
function containsNumber(text: string, digits: string): boolean {
  const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9'
  for (let at = text.indexOf(digits); at !== -1; at = text.indexOf(digits, at + 1)) {
    if (!isDigit(text[at - 1]) && !isDigit(text[at + digits.length])) return true
  }
  return false
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })
}

test('Luhn check', () => {
  assert.equal(luhnValid('4242424242424242'), true)
  assert.equal(luhnValid('4242424242424241'), false)
  assert.equal(luhnValid('79927398713'), false) // too short for a card
})

test('adds a card: 201 with pm_ id and last4 only', async () => {
  const res = await addCard('alice')
  assert.equal(res.status, 201)
  assert.match(res.body.id, /^pm_/)
  assert.equal(res.body.last4, '1111')
  assert.equal(res.body.brand, 'visa')
  assert.equal(JSON.stringify(res.body).includes(CARD), false)
  assert.equal('cvc' in res.body, false)
})

test('refuses bad cards with a 400 and stores nothing', async () => {
  const before = await payments.store.countMethods('mallory')
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ cardNumber: '4111111111111112', expMonth: 12, expYear: future, cvc: '123' }, 'BW_PAYMENTS_CARD_INVALID'],
    [{ cardNumber: CARD, expMonth: 1, expYear: 2020, cvc: '123' }, 'BW_PAYMENTS_CARD_EXPIRED'],
    [{ cardNumber: CARD, expMonth: 13, expYear: future, cvc: '123' }, 'BW_VALIDATION_FAILED'],
    [{ cardNumber: CARD, expMonth: 12, expYear: future }, 'BW_VALIDATION_FAILED'],
    [{ cardNumber: CARD, expMonth: 12, expYear: future, cvc: '12' }, 'BW_VALIDATION_FAILED'],
    [{ cardNumber: '4111-1111-1111-1111', expMonth: 12, expYear: future, cvc: '123' }, 'BW_VALIDATION_FAILED'],
    [{ cardNumber: CARD, expMonth: 12, expYear: future, cvc: '123', owner: 'alice' }, 'BW_VALIDATION_FAILED'],
  ]
  for (const [body, code] of bad) {
    const res = await api(gateway, url, 'POST', '/payments/methods', { token: await token('mallory'), body })
    assert.equal(res.status, 400, JSON.stringify(body))
    assert.equal(res.body.code, code)
    assert.equal(JSON.stringify(res.body).includes(CARD), false, 'the problem never echoes the card number')
  }
  assert.equal(await payments.store.countMethods('mallory'), before)
})

test('lists only the caller\'s own payment methods (API1:2023 BOLA)', async () => {
  await addCard('bob', '5555555555554444', '999')
  const alice = await api(gateway, url, 'GET', '/payments/methods', { token: await token('alice') })
  const bob = await api(gateway, url, 'GET', '/payments/methods', { token: await token('bob') })
  assert.deepEqual(alice.body.items.map((m: { last4: string }) => m.last4), ['1111'])
  assert.deepEqual(bob.body.items.map((m: { last4: string }) => m.last4), ['4444'])
  assert.equal(bob.body.items[0].brand, 'mastercard')
  // No excessive data exposure (API3:2023): never the ciphertext, the owner or the number.
  assert.deepEqual(Object.keys(bob.body.items[0]).sort(), ['brand', 'createdAt', 'expMonth', 'expYear', 'id', 'last4'])
  assert.equal((await api(gateway, url, 'GET', '/payments/methods')).status, 401)
  assert.equal((await api(gateway, url, 'GET', '/payments/methods', { token: await p.identity.tokenFor('orders', { sub: 'bob' }) })).status, 401)
})

test('caps payment methods per user (API4:2023)', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await addCard('carol')).status, 201)
  const res = await addCard('carol')
  assert.equal(res.status, 409)
  assert.equal(res.body.code, 'BW_PAYMENTS_TOO_MANY_METHODS')
})

async function chargeViaOrders(sub: string, body: Record<string, unknown>) {
  // What orders does: exchange the token it received (act = gateway) for one addressed to payments.
  const subjectToken = await p.identity.tokenFor('orders', { sub })
  return await createServiceClient(ordersRt).callService<any>('payments', { method: 'POST', path: '/internal/charges', body, subjectToken })
}

test('orders charges a card through token exchange; the act chain shows orders then gateway', async () => {
  const pm = (await addCard('dave')).body.id
  const res = await chargeViaOrders('dave', { paymentMethodId: pm, amount: 4500, currency: 'USD', orderId: 'ord_test1' })
  assert.equal(res.status, 201)
  assert.equal(res.body.status, 'succeeded')
  assert.equal(res.body.amount, 4500)
  const line = rt.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'charge recorded' && l.orderId === 'ord_test1')
  assert.equal(line?.via, 'orders')
  // Idempotent per order.
  const again = await chargeViaOrders('dave', { paymentMethodId: pm, amount: 4500, currency: 'USD', orderId: 'ord_test1' })
  assert.equal(again.status, 200)
  assert.equal(again.body.id, res.body.id)
  const conflict = await chargeViaOrders('dave', { paymentMethodId: pm, amount: 1, currency: 'USD', orderId: 'ord_test1' })
  assert.equal(conflict.status, 409)
})

test('a charge over the amount cap is a 400 and records nothing (API4:2023, unrestricted resource consumption)', async () => {
  const pm = (await addCard('erin')).body.id
  const res = await chargeViaOrders('erin', { paymentMethodId: pm, amount: 1_000_001, currency: 'USD', orderId: 'ord_cap1' })
  assert.equal(res.status, 400)
  assert.equal(res.body.code, 'BW_PAYMENTS_AMOUNT_TOO_LARGE')
  const within = await chargeViaOrders('erin', { paymentMethodId: pm, amount: 1_000_000, currency: 'USD', orderId: 'ord_cap1' })
  assert.equal(within.status, 201, 'the refused attempt left no charge behind for this order')
})

test('a charge on someone else\'s card is a 404, even through orders (BOLA)', async () => {
  const alicePm = (await api(gateway, url, 'GET', '/payments/methods', { token: await token('alice') })).body.items[0].id
  const before = rt.audit.events.length
  const res = await chargeViaOrders('bob', { paymentMethodId: alicePm, amount: 100, currency: 'USD', orderId: 'ord_steal' })
  assert.equal(res.status, 404)
  assert.ok(rt.audit.events.slice(before).some((e) => e.type === 'authz.denied' && e.action === 'payments.charge' && e.actor.id === 'bob'))
  assert.equal(await payments.store.chargeForOrder('ord_steal'), undefined)
})

test('the charge route refuses a token whose act does not show orders, and workloads policy does not allow', async () => {
  const pm = (await addCard('erin')).body.id
  const body = { paymentMethodId: pm, amount: 100, currency: 'USD', orderId: 'ord_direct' }
  // The gateway never reaches /internal routes (segmentation), whatever its token says.
  const direct = await api(gateway, url, 'POST', '/internal/charges', { token: await token('erin'), body })
  assert.equal(direct.status, 403)
  assert.equal(direct.body.code, 'BW_PEER_IDENTITY')
  // A workload segmentation does not allow.
  const fromCatalog = await api(catalogPeer, url, 'POST', '/internal/charges', { token: await p.identity.tokenFor('payments', { sub: 'erin', actor: serviceSpiffeId(p.ca.trustDomain, 'catalog') }), body })
  assert.equal(fromCatalog.status, 403)
  assert.equal(fromCatalog.body.code, 'BW_PEER_IDENTITY')
  // orders' mTLS identity with a token exchanged by the gateway (act mismatch) is refused too.
  const ordersAgent = await p.client('orders', 'payments')
  const mismatch = await api(ordersAgent, url, 'POST', '/internal/charges', { token: await token('erin'), body })
  assert.equal(mismatch.status, 401)
  assert.equal(mismatch.body.code, 'BW_AUTHN_TOKEN_ACTOR')
  assert.equal(await payments.store.chargeForOrder('ord_direct'), undefined)
})

/** The audit events of `type` emitted since `from`, after checking none carries card data. */
function businessEvents(from: number, type: string) {
  const events = rt.audit.events.slice(from).filter((e) => e.type === type)
  for (const event of events) {
    const text = JSON.stringify(event)
    for (const secret of [CARD, '5555555555554444', CVC, CARD.slice(-4)]) assert.equal(containsNumber(text, secret), false, `${secret} in ${text}`)
    assert.equal(/card(Number)?"|cvc|last4|expYear|expMonth/i.test(text), false, `card fields in ${text}`)
  }
  return events
}

test('adding a payment method is audited as payment_method.added (success and failure) without card data', async () => {
  const before = rt.audit.events.length
  const ok = await addCard('frank')
  assert.equal(ok.status, 201)
  const bad = await api(gateway, url, 'POST', '/payments/methods', { token: await token('frank'), body: { cardNumber: '4111111111111112', expMonth: 12, expYear: future, cvc: CVC } })
  assert.equal(bad.status, 400)
  const events = businessEvents(before, 'payment_method.added')
  assert.equal(events.length, 2, JSON.stringify(rt.audit.events.slice(before)))
  assert.deepEqual(events.map((e) => ({ actor: e.actor, action: e.action, resource: e.resource, outcome: e.outcome, reason: e.reason })), [
    { actor: { kind: 'user', id: 'frank', clientId: 'shop-cli' }, action: 'payments.createMethod', resource: `PaymentMethod::"${ok.body.id}"`, outcome: 'success', reason: undefined },
    { actor: { kind: 'user', id: 'frank', clientId: 'shop-cli' }, action: 'payments.createMethod', resource: 'Wallet::"frank"', outcome: 'failure', reason: 'BW_PAYMENTS_CARD_INVALID' },
  ])
  assert.equal(events[0]!.details?.brand, 'visa')
})

test('a charge is audited as payment.charged: the user, the card id, the order, via orders; a refused one is a failure', async () => {
  const pm = (await addCard('grace')).body.id
  const before = rt.audit.events.length
  const ok = await chargeViaOrders('grace', { paymentMethodId: pm, amount: 2500, currency: 'EUR', orderId: 'ord_audit1' })
  assert.equal(ok.status, 201)
  const over = await chargeViaOrders('grace', { paymentMethodId: pm, amount: 1_000_001, currency: 'EUR', orderId: 'ord_audit2' })
  assert.equal(over.status, 400)
  const events = businessEvents(before, 'payment.charged')
  assert.equal(events.length, 2, JSON.stringify(rt.audit.events.slice(before)))
  const [charged, refused] = events
  assert.deepEqual({ actor: charged!.actor, action: charged!.action, resource: charged!.resource, outcome: charged!.outcome }, {
    actor: { kind: 'user', id: 'grace', clientId: 'shop-cli' }, action: 'payments.charge', resource: `PaymentMethod::"${pm}"`, outcome: 'success',
  })
  assert.deepEqual(charged!.details, { orderId: 'ord_audit1', amount: 2500, currency: 'EUR', via: 'orders', chargeId: ok.body.id })
  assert.equal(refused!.outcome, 'failure')
  assert.equal(refused!.reason, 'BW_PAYMENTS_AMOUNT_TOO_LARGE')
  assert.equal(refused!.details?.orderId, 'ord_audit2')
})

const methodIds = async (sub: string) => (await api(gateway, url, 'GET', '/payments/methods', { token: await token(sub) })).body.items.map((m: { id: string }) => m.id)
const deleteMethod = async (sub: string, id: string) => await api(gateway, url, 'DELETE', `/payments/methods/${id}`, { token: await token(sub) })

test('the owner deletes a payment method: 204, no longer listed, no longer chargeable, its charges kept', async () => {
  const pm = (await addCard('heidi')).body.id
  const kept = (await addCard('heidi', '5555555555554444')).body.id
  const charged = await chargeViaOrders('heidi', { paymentMethodId: pm, amount: 700, currency: 'USD', orderId: 'ord_del1' })
  assert.equal(charged.status, 201)
  const ciphertext = (await payments.store.getMethod(pm))!.cardCiphertext
  await payments.store.sql.query('PRAGMA wal_checkpoint(TRUNCATE)')
  assert.ok(readFileSync(rt.paths.database('payments')).toString('latin1').includes(ciphertext), 'the ciphertext is in the file before the delete')
  const res = await deleteMethod('heidi', pm)
  assert.equal(res.status, 204)
  assert.equal(res.body, undefined)
  assert.deepEqual(await methodIds('heidi'), [kept])
  const charge = await chargeViaOrders('heidi', { paymentMethodId: pm, amount: 700, currency: 'USD', orderId: 'ord_del2' })
  assert.equal(charge.status, 404)
  assert.equal(charge.body.code, 'BW_NOT_FOUND')
  assert.equal(await payments.store.chargeForOrder('ord_del2'), undefined)
  // Asking again for the order charged on it before is a 404 too: the method is gone for charging.
  assert.equal((await chargeViaOrders('heidi', { paymentMethodId: pm, amount: 700, currency: 'USD', orderId: 'ord_del1' })).status, 404)
  // The charge recorded before stays, for order history.
  assert.deepEqual(await payments.store.chargeForOrder('ord_del1'), charged.body)
  // Deleting it again is a 404 like any missing method; the freed slot counts again for the cap.
  assert.equal((await deleteMethod('heidi', pm)).status, 404)
  assert.equal(await payments.store.countMethods('heidi'), 1)
  // Nothing of the card is left in the file: the ciphertext and last4 are wiped, and the freed bytes zeroed.
  const row = await payments.store.sql.one<{ card_ciphertext: string; last4: string }>('SELECT card_ciphertext, last4 FROM methods WHERE id = ?', [pm])
  assert.deepEqual({ ...row }, { card_ciphertext: '', last4: '' })
  await payments.store.sql.query('PRAGMA wal_checkpoint(TRUNCATE)')
  assert.deepEqual(piecesIn(rt.paths.database('payments'), ciphertext), [], 'pieces of the deleted ciphertext remain in payments.db')
})

/** The 16-character pieces of `secret` (past its `bw:v…` prefix) still present in the file at `path`. */
function piecesIn(path: string, secret: string): string[] {
  const file = readFileSync(path).toString('latin1')
  return Array.from({ length: secret.length - 16 }, (_, at) => secret.slice(at, at + 16)).filter((piece) => !piece.startsWith('bw:v') && file.includes(piece))
}

test('a deleted method leaves no piece of its ciphertext in the SQLite file (secure_delete)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-payments-'))
  const path = join(dir, 'payments.db')
  const store = await openPaymentsStore({ sqlitePath: path })
  try {
    // Shaped like the vault's ciphertexts (random bytes, base64url).
    const ciphertexts = Array.from({ length: 5 }, () => `bw:v1:${randomBytes(72).toString('base64url')}`)
    const ids: string[] = []
    for (const cardCiphertext of ciphertexts) ids.push((await store.addMethod({ owner: 'nina', cardCiphertext, last4: '1111', brand: 'visa', expMonth: 12, expYear: future }, Date.now(), 10)).id)
    await store.sql.query('PRAGMA wal_checkpoint(TRUNCATE)')
    assert.ok(piecesIn(path, ciphertexts[2]!).length > 0, 'the ciphertext is in the file before the delete')
    assert.equal(await store.deleteMethod(ids[2]!, 'someone-else', Date.now()), false)
    assert.equal(await store.deleteMethod(ids[2]!, 'nina', Date.now()), true)
    assert.equal(await store.deleteMethod(ids[2]!, 'nina', Date.now()), false)
    await store.sql.query('PRAGMA wal_checkpoint(TRUNCATE)')
    assert.deepEqual(piecesIn(path, ciphertexts[2]!), [])
    assert.equal(piecesIn(path, ciphertexts[3]!).length > 0, true, 'the other methods are untouched')
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('deleting someone else\'s payment method is a 404 like a missing one, and deletes nothing (API1:2023 BOLA)', async () => {
  const pm = (await addCard('ivan')).body.id
  const before = rt.audit.events.length
  const res = await deleteMethod('judy', pm)
  assert.equal(res.status, 404)
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/)
  const missing = await deleteMethod('judy', 'pm_doesnotexist')
  assert.equal(missing.status, 404)
  // Same answer either way: nothing tells a stranger that the method exists.
  assert.deepEqual({ ...res.body, instance: undefined, requestId: undefined }, { ...missing.body, instance: undefined, requestId: undefined })
  assert.ok(rt.audit.events.slice(before).some((e) => e.type === 'authz.denied' && e.action === 'payments.deleteMethod' && e.actor.id === 'judy'))
  assert.deepEqual(await methodIds('ivan'), [pm])
  assert.equal((await payments.store.getMethod(pm))?.last4, '1111')
  const charge = await chargeViaOrders('ivan', { paymentMethodId: pm, amount: 100, currency: 'USD', orderId: 'ord_after_bola' })
  assert.equal(charge.status, 201, 'the owner still charges it')
})

test('deleting with a malformed id is a 400 problem and changes nothing; without a token a 401', async () => {
  const pm = (await addCard('kim')).body.id
  for (const id of ['nope', 'pm_', `pm_${'a'.repeat(65)}`, 'pm_a.b', encodeURIComponent('pm_a b')]) {
    const res = await deleteMethod('kim', id)
    assert.equal(res.status, 400, id)
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/)
    assert.equal(res.body.code, 'BW_VALIDATION_FAILED')
  }
  assert.equal((await api(gateway, url, 'DELETE', `/payments/methods/${pm}`)).status, 401)
  assert.deepEqual(await methodIds('kim'), [pm])
})

test('deleting a payment method is audited as payment_method.deleted (success, denied, failure) without card data', async () => {
  const pm = (await addCard('leo')).body.id
  const before = rt.audit.events.length
  assert.equal((await deleteMethod('mike', pm)).status, 404)
  assert.equal((await deleteMethod('leo', pm)).status, 204)
  assert.equal((await deleteMethod('leo', pm)).status, 404)
  const events = businessEvents(before, 'payment_method.deleted')
  const leo = { kind: 'user', id: 'leo', clientId: 'shop-cli' }
  const mike = { kind: 'user', id: 'mike', clientId: 'shop-cli' }
  assert.deepEqual(events.map((e) => ({ actor: e.actor, action: e.action, resource: e.resource, outcome: e.outcome, reason: e.reason, details: e.details })), [
    { actor: mike, action: 'payments.deleteMethod', resource: `PaymentMethod::"${pm}"`, outcome: 'denied', reason: 'BW_AUTHZ_DENIED', details: undefined },
    { actor: leo, action: 'payments.deleteMethod', resource: `PaymentMethod::"${pm}"`, outcome: 'success', reason: undefined, details: { brand: 'visa' } },
    { actor: leo, action: 'payments.deleteMethod', resource: `PaymentMethod::"${pm}"`, outcome: 'failure', reason: 'BW_NOT_FOUND', details: undefined },
  ])
})

test('the CVC is never persisted and card numbers never appear in plaintext in any file or log', async () => {
  await payments.store.sql.query('PRAGMA wal_checkpoint(FULL)')
  const columns = (await payments.store.sql.all<{ name: string }>('SELECT name FROM pragma_table_info(\'methods\')')).map((c) => c.name)
  assert.equal(columns.some((c) => /cvc|cvv|security/i.test(c)), false)
  const files = filesUnder(p.home)
  assert.ok(files.some((f) => f.endsWith('payments.db')))
  assert.ok(files.some((f) => f.endsWith('vault.db')))
  for (const file of files) {
    const text = readFileSync(file).toString('latin1')
    for (const secret of [CVC, CARD, '5555555555554444']) {
      assert.equal(containsNumber(text, secret), false, `${secret} found in ${file}`)
    }
  }
  const rows = await payments.store.sql.all<{ card_ciphertext: string }>('SELECT card_ciphertext FROM methods WHERE deleted_at IS NULL')
  assert.ok(rows.length > 0 && rows.every((r) => r.card_ciphertext.startsWith('bw:v')))
  const logs = rt.logs.join('\n')
  assert.ok(logs.length > 0)
  // As a number on its own: a 4-digit CVC also occurs inside millisecond timestamps of log lines.
  for (const secret of [CVC, CARD]) assert.equal(containsNumber(logs, secret), false, `${secret} in the logs`)
})
