import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startHarness, type Harness } from './helpers.ts'
import { startService, type TestService } from './services.ts'

let h: Harness
let orders: TestService
let payments: TestService
before(async () => {
  h = await startHarness()
  orders = await startService(h, 'orders')
  payments = await startService(h, 'payments')
})
after(async () => {
  await orders.close()
  await payments.close()
  await h.close()
})

async function hello(from: TestService, to: TestService): Promise<number> {
  // A fresh agent: a new handshake, so the peer's current revocation view decides.
  const agent = from.agentTo(to)
  try {
    const res = await request(`${to.url}/hello`, { dispatcher: agent })
    await res.body.dump()
    return res.statusCode
  } finally {
    await agent.close()
  }
}

test('a revoked certificate reaches peers through the bundle feed and their connections are refused', async () => {
  assert.equal(await hello(orders, payments), 200)
  // A kept-alive connection opened before the revocation is closed by the sweeper, not left running.
  const keptAlive = orders.agentTo(payments)
  const first = await request(`${payments.url}/hello`, { dispatcher: keptAlive })
  assert.equal(first.statusCode, 200)
  await first.body.dump()
  const serial = orders.source.current().serial
  const res = await h.op('POST', `/v1/certs/${serial}/revoke`, { reason: 'key compromise' })
  assert.equal(res.status, 200)
  const bundle = await payments.bundleWhere((b) => b.revokedSerials.includes(serial))
  assert.ok(payments.revocation.isRevokedSerial(serial))
  assert.ok(bundle.version > payments.bundles[0]!.version)
  await assert.rejects(hello(orders, payments), 'payments refuses the revoked client certificate')
  await assert.rejects(request(`${payments.url}/hello`, { dispatcher: keptAlive }).then((r) => r.body.dump()), 'the open connection is gone too')
  // Renewing with the revoked certificate is refused too; only a new join brings orders back.
  const inventory = await h.op('GET', `/v1/certs?spiffeId=${encodeURIComponent(orders.source.current().spiffeId)}`)
  assert.equal(inventory.body.certs.find((c: { serial: string }) => c.serial === serial).revoked, true)
})

test('quarantine blocks a service in both directions and release lifts it', async () => {
  const fresh = await startService(h, 'catalog')
  try {
    assert.equal(await hello(fresh, payments), 200)
    assert.equal((await h.op('POST', '/v1/quarantine', { service: 'catalog' })).status, 200)
    const id = fresh.source.current().spiffeId
    const blocked = await payments.bundleWhere((b) => b.quarantined.includes(id))
    await fresh.bundleWhere((b) => b.quarantined.includes(id))
    await assert.rejects(hello(fresh, payments), 'payments refuses the quarantined caller')
    // Anyone else refuses to talk to a quarantined server as well.
    await assert.rejects(hello(payments, fresh), 'payments will not call the quarantined service')
    assert.equal((await h.op('POST', '/v1/release', { service: 'catalog' })).status, 200)
    await payments.bundleWhere((b) => b.version > blocked.version && !b.quarantined.includes(id))
    assert.equal(payments.revocation.isBlockedSpiffeId(id), false)
    assert.equal(await hello(fresh, payments), 200)
  } finally {
    await fresh.close()
  }
})

test('the bundle long-poll waits for a change and returns it at once', async () => {
  const { body: first } = await h.op('GET', '/v1/bundle')
  assert.equal(first.trustDomain, 'bulwark.test')
  assert.deepEqual(first.roots, [h.rootPem])
  const started = Date.now()
  const poll = h.op('GET', `/v1/bundle?version=${first.version}&wait=20`)
  await new Promise((resolve) => setImmediate(resolve))
  const token = await h.joinToken('spiffe://bulwark.test/svc/users')
  assert.ok(token.startsWith('bwjt_'))
  // A join token does not change the bundle; a quarantine does.
  await h.op('POST', '/v1/quarantine', { service: 'users' })
  const { body: next } = await poll
  assert.ok(next.version > first.version)
  assert.ok(next.quarantined.includes('spiffe://bulwark.test/svc/users'))
  assert.ok(Date.now() - started < 10_000)
  await h.op('POST', '/v1/release', { service: 'users' })
  const unchanged = await h.op('GET', `/v1/bundle?version=${next.version + 1}&wait=0`)
  assert.equal(unchanged.body.version, next.version + 1)
})

test('rotating the intermediate keeps existing certificates valid and signs new ones with the new key', async () => {
  const before = orders.source.current()
  const res = await h.op('POST', '/v1/rotate')
  assert.equal(res.status, 200)
  assert.notEqual(res.body.serial, res.body.previousSerial)
  assert.equal(h.audit.events.filter((e) => e.type === 'ca.rotated').length, 1)
  const fresh = await startService(h, 'users')
  try {
    assert.notEqual(fresh.source.current().chainPem, payments.source.current().chainPem)
    assert.equal(await hello(fresh, payments), 200, 'new-intermediate client to old-intermediate server')
    assert.equal(await hello(payments, fresh), 200, 'old-intermediate client to new-intermediate server')
    const { body } = await h.op('GET', '/v1/bundle')
    assert.equal(body.intermediates.length, 2, 'the retired intermediate stays listed while its leaves live')
  } finally {
    await fresh.close()
  }
  assert.equal(orders.source.current().serial, before.serial)
})
