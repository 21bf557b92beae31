import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startAudit, makeEvent, callerEntries } from './helpers.ts'

const harness = await startAudit({ config: { maxBatch: 50 } })
after(() => harness.close())
const identity = await harness.client('identity')
const orders = await harness.client('orders')
const operator = await harness.operator()

test('accepts a batch only once it is durable and acknowledges duplicates without appending them', async () => {
  const events = [makeEvent('identity', { type: 'login.failed' }), makeEvent('identity', { type: 'token.issued', outcome: 'success' })]
  const first = await identity.call('POST', '/v1/events', { events })
  assert.equal(first.status, 200)
  assert.deepEqual(first.body, { accepted: 2, duplicates: 0 })
  const size = harness.service.log.size
  const again = await identity.call('POST', '/v1/events', { events: [...events, events[0]] })
  assert.deepEqual(again.body, { accepted: 0, duplicates: 3 })
  assert.equal(harness.service.log.size, size)
})

test('refuses a batch with one malformed event, lists every reason, and writes nothing', async () => {
  const size = await callerEntries(harness)
  const bad = [
    makeEvent('identity'),
    { ...makeEvent('identity'), type: 'NotAType' },
    { ...makeEvent('identity'), password: 'hunter2' },
    { ...makeEvent('identity'), time: 'yesterday' },
  ]
  const res = await identity.call('POST', '/v1/events', { events: bad })
  assert.equal(res.status, 400)
  assert.equal(res.body.code, 'BW_AUDIT_MALFORMED')
  const paths = res.body.errors.map((e: { path: string }) => e.path)
  assert.ok(paths.includes('/events/1/type'))
  assert.ok(paths.includes('/events/2/password'))
  assert.ok(paths.includes('/events/3/time'))
  assert.ok(!res.text.includes('hunter2'))
  assert.equal(await callerEntries(harness), size)
  for (const body of [null, [], { events: 'x' }, { events: [], extra: 1 }]) {
    assert.equal((await identity.call('POST', '/v1/events', body)).status, 400)
  }
})

test('refuses an oversized batch with 413', async () => {
  const events = Array.from({ length: 51 }, () => makeEvent('identity'))
  const res = await identity.call('POST', '/v1/events', { events })
  assert.equal(res.status, 413)
  assert.equal(res.body.code, 'BW_AUDIT_BATCH_TOO_LARGE')
})

test('refuses events written for another component and reserved types from the wrong caller', async () => {
  const size = await callerEntries(harness)
  const foreign = await orders.call('POST', '/v1/events', { events: [makeEvent('orders'), makeEvent('identity')] })
  assert.equal(foreign.status, 403)
  assert.equal(foreign.body.code, 'BW_AUDIT_COMPONENT_MISMATCH')
  const forged = await orders.call('POST', '/v1/events', { events: [makeEvent('orders', { type: 'login.failed' })] })
  assert.equal(forged.status, 403)
  assert.equal(forged.body.code, 'BW_AUDIT_TYPE_FORBIDDEN')
  const alert = await identity.call('POST', '/v1/events', { events: [makeEvent('identity', { type: 'alert.raised' })] })
  assert.equal(alert.status, 403)
  assert.equal(await callerEntries(harness), size)
  await harness.service.audit.flush()
  const rejected = await operator.call('GET', '/v1/events?type=audit.events_rejected&limit=100')
  assert.ok(rejected.body.entries.some((e: any) => e.event.reason === 'BW_AUDIT_COMPONENT_MISMATCH' && e.event.details.component === 'orders'))
})

test('accepts operator events as component `cli` in the incident namespace only', async () => {
  const event = makeEvent('cli', { type: 'incident.subject_revoked', actor: { kind: 'operator', spiffeId: `spiffe://${harness.ca.trustDomain}/operator/admin` }, outcome: 'success' })
  assert.equal((await operator.call('POST', '/v1/events', { events: [event] })).status, 200)
  const impostor = makeEvent('cli', { type: 'incident.subject_revoked', actor: { kind: 'operator', spiffeId: `spiffe://${harness.ca.trustDomain}/operator/someone-else` } })
  assert.equal((await operator.call('POST', '/v1/events', { events: [impostor] })).status, 403)
  const other = makeEvent('cli', { type: 'authz.denied', actor: { kind: 'operator' } })
  assert.equal((await operator.call('POST', '/v1/events', { events: [other] })).status, 403)
  const asIdentity = makeEvent('identity', { type: 'incident.subject_revoked', actor: { kind: 'operator' } })
  assert.equal((await operator.call('POST', '/v1/events', { events: [asIdentity] })).status, 403)
  assert.equal((await identity.call('POST', '/v1/events', { events: [makeEvent('identity', { type: 'incident.subject_revoked' })] })).status, 403)
})

test('keeps operator routes to the operator and blocks to the gateway', async () => {
  for (const path of ['/v1/events', '/v1/tree-head', '/v1/export', '/v1/verify', '/v1/alerts', '/v1/proofs/inclusion?index=0']) {
    const res = await identity.call('GET', path)
    assert.equal(res.status, 403, path)
    assert.equal(res.body.code, 'BW_PEER_IDENTITY')
  }
  assert.equal((await identity.call('GET', '/v1/blocks')).status, 403)
  const gateway = await harness.client('gateway')
  assert.equal((await gateway.call('GET', '/v1/blocks')).status, 200)
  const stranger = await harness.client('spiffe://elsewhere.test/svc/identity')
  assert.equal((await stranger.call('POST', '/v1/events', { events: [makeEvent('identity')] })).status, 403)
})

test('lists events by type and order, and rejects bad query parameters', async () => {
  const res = await operator.call('GET', '/v1/events?type=login.failed')
  assert.equal(res.status, 200)
  assert.ok(res.body.entries.length >= 1)
  assert.ok(res.body.entries.every((e: any) => e.event.type === 'login.failed'))
  const last = await operator.call('GET', '/v1/events?order=desc&limit=1')
  assert.equal(last.body.entries[0].index, harness.service.log.size - 1)
  for (const q of ['after=abc', 'limit=0', 'limit=5000', 'type=DROP%20TABLE', 'order=sideways']) {
    assert.equal((await operator.call('GET', `/v1/events?${q}`)).status, 400, q)
  }
})

test('exposes events/s, tree size, alerts and the age of the last signed tree head as metrics', async () => {
  const res = await operator.call('GET', '/metrics')
  assert.equal(res.status, 200)
  for (const name of ['bulwark_audit_events_total', 'bulwark_audit_events_per_second', 'bulwark_audit_tree_size', 'bulwark_audit_tree_head_age_seconds', 'bulwark_audit_integrity_ok']) {
    assert.ok(res.text.split('\n').some((line) => line.startsWith(`${name}{`) && /\} [0-9.e+-]+$/.test(line)), name)
  }
  assert.match(res.text, /^bulwark_audit_tree_size\{[^}]*\} [1-9]/m)
  harness.clock.advance(30_000)
  const later = await operator.call('GET', '/metrics')
  const age = Number(/^bulwark_audit_tree_head_age_seconds\{[^}]*\} ([0-9.]+)$/m.exec(later.text)![1])
  assert.ok(age >= 30, `age ${age}`)
})
