// callService: token exchange (RFC 8693) at the fake identity over mTLS,
// cached until expiry, the target's SPIFFE ID enforced; and the service's
// fail-closed behaviour when identity's revocation feed is unknown.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import type { Agent } from 'undici'
import { serviceSpiffeId } from '@bulwark/core'
import { createRevocationFeed, createSecureService, createServiceClient, type SecureService } from '../src/service/index.ts'
import { api, createTestRuntime, PUBLIC_URL, startTestPlatform, type TestPlatform, type TestRuntime } from './service-support/index.ts'

let p: TestPlatform
let payments: SecureService
let impostor: SecureService
let orders: TestRuntime
let posts = 0
let downHits = 0

before(async () => {
  p = await startTestPlatform()
  payments = await createSecureService(await p.runtime('payments'), { authorizer: p.authorizer })
  payments.post('/internal/echo', async (request) => ({ sub: request.auth.sub, act: request.auth.act, callerService: request.auth.callerService }))
  payments.get('/public', { config: { auth: 'optional' } }, async (request) => ({ authenticated: request.auth.authenticated }))
  payments.get('/big', { config: { auth: 'optional' } }, async () => ({ blob: 'x'.repeat(2 * 1024 * 1024) }))
  payments.get('/big-stream', { config: { auth: 'optional' } }, async (_request, reply) => {
    reply.header('content-type', 'application/json')
    return reply.send(Readable.from((function* () { for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024, 0x61) })()))
  })
  let flaky = 0
  payments.get('/flaky', { config: { auth: 'optional' } }, async (request) => {
    flaky += 1
    if (flaky === 1) request.raw.socket.destroy() // the first attempt loses its connection
    return { attempt: flaky }
  })
  payments.get('/slow', { config: { auth: 'optional' } }, async () => {
    await new Promise((r) => setTimeout(r, 2000))
    return { late: true }
  })
  payments.get('/down', { config: { auth: 'optional' } }, async (request) => {
    downHits += 1
    request.raw.socket.destroy()
    return {}
  })
  payments.post('/flaky-post', { config: { auth: 'optional' } }, async (request) => {
    posts += 1
    request.raw.socket.destroy()
    return {}
  })
  await p.serve('payments', payments)
  // A server holding catalog's SVID, registered under the name `users`: a mis-wired or hijacked address.
  impostor = await createSecureService(await p.runtime('catalog'), { authorizer: p.authorizer })
  impostor.get('/x', async () => ({ leaked: true }))
  await p.serve('users', impostor)
  orders = await p.runtime('orders')
})
after(async () => {
  await p.close()
})

test('exchanges the subject token for one addressed to the target, once, and the target sees the act chain', async () => {
  const client = createServiceClient(orders)
  const subjectToken = await p.identity.tokenFor('orders', { sub: 'alice' })
  const before = p.identity.exchanges
  const first = await client.callService<any>('payments', { method: 'POST', path: '/internal/echo', body: {}, subjectToken })
  assert.equal(first.status, 200)
  assert.equal(first.body.sub, 'alice')
  assert.equal(first.body.callerService, 'orders')
  assert.deepEqual(first.body.act, { sub: serviceSpiffeId(p.ca.trustDomain, 'orders'), act: { sub: serviceSpiffeId(p.ca.trustDomain, 'gateway') } })
  await client.callService('payments', { method: 'POST', path: '/internal/echo', body: {}, subjectToken })
  assert.equal(p.identity.exchanges, before + 1, 'the exchanged token is cached')
  p.clock.advance(290_000) // inside the refresh margin of the 300 s token
  try {
    const fresh = await p.identity.tokenFor('orders', { sub: 'alice' })
    await client.callService('payments', { method: 'POST', path: '/internal/echo', body: {}, subjectToken: fresh })
    assert.equal(p.identity.exchanges, before + 2)
  } finally {
    p.clock.advance(-290_000)
  }
})

test('without a subject token no token is sent (public reads)', async () => {
  const res = await createServiceClient(orders).callService<any>('payments', { path: '/public' })
  assert.deepEqual(res.body, { authenticated: false })
})

test('an exchange identity refuses is a 403 BW_EXCHANGE_REFUSED, and nothing is sent', async () => {
  const client = createServiceClient(await p.runtime('catalog'))
  const subjectToken = await p.identity.tokenFor('catalog', { sub: 'alice' })
  await assert.rejects(client.callService('payments', { method: 'POST', path: '/internal/echo', body: {}, subjectToken }), (error: { code?: string; status?: number }) => {
    assert.equal(error.code, 'BW_EXCHANGE_REFUSED')
    assert.equal(error.status, 403)
    return true
  })
})

test('a server presenting another SPIFFE ID than the named peer is never talked to', async () => {
  await assert.rejects(createServiceClient(orders).callService('users', { path: '/x' }), (error: { code?: string }) => error.code === 'BW_UPSTREAM_FAILED')
})

test('while identity is unreachable, tokens are refused with 503 rather than trusted (fail closed)', async () => {
  const rt = await createTestRuntime({ ca: p.ca, name: 'notes', home: p.home, publicUrl: PUBLIC_URL, peers: { identity: 'https://127.0.0.1:9' }, clock: p.clock })
  const blind = await createSecureService(rt, { authorizer: p.authorizer, name: 'payments' })
  blind.get('/y', async () => ({ ok: true }))
  const url = await p.serve('blind', blind)
  const gateway: Agent = await p.client('gateway', 'notes')
  const res = await api(gateway, url, 'GET', '/y', { token: await p.identity.tokenFor('notes', { sub: 'alice' }) })
  assert.equal(res.status, 503)
  assert.equal(res.body.code, 'BW_AUTHN_KEYS_UNAVAILABLE')
  await rt.closeAgents()
})

test('the revocation feed refuses to vouch before its first sync and when stale', async () => {
  const rt = await p.runtime('notes')
  const feed = createRevocationFeed({ url: `${p.identity.url}/admin/v1/revocations`, dispatcher: rt.peer('identity').dispatcher, log: rt.log, clock: p.clock, waitSeconds: 1, maxStalenessMs: 60_000 })
  try {
    assert.throws(() => feed.check({ sub: 'alice', iat: 1 }), (e: { code?: string }) => e.code === 'BW_AUTHN_REVOCATIONS_UNAVAILABLE')
    await feed.ready(5000)
    feed.check({ sub: 'alice', iat: Math.floor(p.clock.now() / 1000) })
    p.clock.advance(120_000)
    assert.throws(() => feed.check({ sub: 'alice', iat: Math.floor(p.clock.now() / 1000) }), (e: { code?: string }) => e.code === 'BW_AUTHN_REVOCATIONS_UNAVAILABLE')
  } finally {
    p.clock.advance(-120_000)
    feed.stop()
  }
})

test('an answer over the size bound is a 502, announced or streamed, so a callee cannot exhaust the caller', async () => {
  const client = createServiceClient(orders)
  for (const path of ['/big', '/big-stream']) {
    await assert.rejects(client.callService('payments', { path }), (e: { code?: string; cause?: { code?: string } }) => e.code === 'BW_UPSTREAM_FAILED' && e.cause?.code === 'BW_ANSWER_TOO_LARGE', path)
  }
  const roomy = await client.callService<any>('payments', { path: '/big', maxAnswerBytes: 4 * 1024 * 1024 })
  assert.equal(roomy.body.blob.length, 2 * 1024 * 1024)
})

test('an idempotent call is retried once after a lost connection; a POST is not', async () => {
  const client = createServiceClient(orders)
  const res = await client.callService<any>('payments', { path: '/flaky' })
  assert.deepEqual(res.body, { attempt: 2 })
  await assert.rejects(client.callService('payments', { method: 'POST', path: '/flaky-post', body: {} }), (e: { code?: string }) => e.code === 'BW_UPSTREAM_FAILED')
  assert.equal(posts, 1, 'a POST is sent once: it may have taken effect')
})

test('a callee that keeps failing opens its circuit: calls fail fast with 503 and Retry-After, then one trial after the cooldown', async () => {
  const client = createServiceClient(orders, { breakerFailures: 2, breakerCooldownMs: 5000 })
  for (let i = 0; i < 2; i++) await assert.rejects(client.callService('payments', { path: '/down' }), (e: { code?: string }) => e.code === 'BW_UPSTREAM_FAILED')
  const hits = downHits
  await assert.rejects(client.callService('payments', { path: '/down' }), (e: { code?: string; status?: number; headers?: Record<string, string> }) =>
    e.code === 'BW_UPSTREAM_UNAVAILABLE' && e.status === 503 && Number(e.headers?.['retry-after']) >= 1)
  assert.equal(downHits, hits, 'an open circuit sends nothing')
  p.clock.advance(5000)
  try {
    await assert.rejects(client.callService('payments', { path: '/down' }), (e: { code?: string }) => e.code === 'BW_UPSTREAM_FAILED')
    assert.ok(downHits > hits, 'after the cooldown one trial goes through')
    await assert.rejects(client.callService('payments', { path: '/down' }), (e: { code?: string }) => e.code === 'BW_UPSTREAM_UNAVAILABLE', 'the failed trial opens it again')
    await assert.rejects(client.callService('payments', { path: '/public' }), (e: { code?: string }) => e.code === 'BW_UPSTREAM_UNAVAILABLE', 'the circuit is per target, not per path')
  } finally {
    p.clock.advance(-5000)
  }
})

test('a callee slower than the timeout is a 502 after the timeout, not a hung request', async () => {
  const client = createServiceClient(orders)
  const started = performance.now()
  await assert.rejects(client.callService('payments', { path: '/slow', timeoutMs: 200 }), (e: { code?: string; cause?: { code?: string } }) =>
    e.code === 'BW_UPSTREAM_FAILED' && e.cause?.code === 'UND_ERR_HEADERS_TIMEOUT')
  const elapsed = performance.now() - started
  assert.ok(elapsed >= 190 && elapsed < 1500, `gave up after the timeout (${elapsed.toFixed(0)} ms); a timed-out call is not retried`)
})
