import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { Agent } from 'undici'
import { createManualClock } from '@bulwark/core'
import { createProxyStage, forwardHeaders, responseHeaders } from '../src/pipeline/proxy.ts'
import { createCircuitBreaker } from '@bulwark/sdk/service'
import { makeCtx, makeReq, outcome, routeOf } from './helpers-unit.ts'

test('drops hop-by-hop, spoofable and Connection-listed headers; sets ours', () => {
  const req = makeReq({ headers: {
    connection: 'keep-alive, x-secret', 'x-secret': '1', 'keep-alive': 'timeout=5', te: 'trailers', upgrade: 'h2c', 'transfer-encoding': 'chunked',
    authorization: 'Bearer caller', cookie: 'a=b', 'x-forwarded-for': '6.6.6.6', forwarded: 'for=x', 'x-real-ip': '6.6.6.6', 'x-request-id': 'evil',
    'x-bulwark-anything': '1', ':path': '/x', 'x-client-cert': 'pem', 'x-http-method-override': 'DELETE', accept: 'application/json',
  } })
  const ctx = makeCtx({ route: routeOf({}), clientIp: '192.0.2.5', upstreamToken: 'internal' })
  const out = forwardHeaders(req, ctx, 'localhost:8443')
  assert.deepEqual(out, {
    accept: 'application/json', 'x-request-id': 'req-00000001', 'x-forwarded-for': '192.0.2.5', 'x-forwarded-proto': 'https',
    'x-forwarded-host': 'localhost:8443', authorization: 'Bearer internal',
  })
})

test('identity routes keep cookies and the caller\'s own Authorization', () => {
  const req = makeReq({ headers: { authorization: 'Basic abc', cookie: 's=1' } })
  const out = forwardHeaders(req, makeCtx({ route: routeOf({ public: true, forwardCookies: true, forwardAuthorization: true }) }), 'h')
  assert.equal(out.authorization, 'Basic abc')
  assert.equal(out.cookie, 's=1')
})

test('response headers lose hop-by-hop ones, X-Powered-By and Server', () => {
  assert.deepEqual(responseHeaders({ connection: 'close, x-a', 'x-a': '1', 'x-powered-by': 'Express', server: 'nginx', 'content-type': 'text/plain', 'set-cookie': ['a', 'b'] }),
    { 'content-type': 'text/plain', 'set-cookie': ['a', 'b'] })
  // The edge's security headers are the gateway's: an upstream cannot weaken them.
  assert.deepEqual(responseHeaders({ 'strict-transport-security': 'max-age=0', 'x-frame-options': 'ALLOWALL', 'referrer-policy': 'unsafe-url', 'x-content-type-options': 'sniff', 'cross-origin-opener-policy': 'unsafe-none', etag: '"1"' }),
    { etag: '"1"' })
})

test('the circuit breaker opens after consecutive failures, half-opens after the cooldown, closes on success', () => {
  const clock = createManualClock()
  const breaker = createCircuitBreaker({ failures: 3, cooldownMs: 1000, clock })
  for (let i = 0; i < 3; i++) { assert.equal(breaker.blockedForMs(), 0); breaker.failure() }
  assert.equal(breaker.state, 'open')
  assert.ok(breaker.blockedForMs() > 0)
  clock.advance(1000)
  assert.equal(breaker.blockedForMs(), 0, 'one trial')
  assert.ok(breaker.blockedForMs() > 0, 'only one trial at a time')
  breaker.success()
  assert.equal(breaker.state, 'closed')
})

test('retries idempotent requests on connection failures only; never POST', async () => {
  const seenMethods = new Set<string>()
  const server = createServer((req, res) => {
    // The first request of each method dies with its connection.
    if (!seenMethods.has(req.method!)) {
      seenMethods.add(req.method!)
      req.socket.destroy()
      return
    }
    res.end(JSON.stringify({ method: req.method }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const dispatcher = new Agent({ pipelining: 0 })
  try {
    const stage = createProxyStage({ peer: () => ({ url, spiffeId: 'x', dispatcher }), publicHost: 'h', headersTimeoutMs: 2000, bodyTimeoutMs: 2000, retries: 1, breakerFailures: 5, breakerCooldownMs: 1000, clock: createManualClock() })
    const get = makeCtx({ route: routeOf({}) })
    assert.equal(await outcome(() => stage.run(makeReq({ method: 'GET' }), get)), 'ok')
    assert.equal(get.upstream?.statusCode, 200)
    const post = makeCtx({ route: routeOf({ methods: ['POST'] }) })
    const code = await outcome(() => stage.run(makeReq({ method: 'POST' }), post))
    assert.equal(code, 'BW_GATEWAY_UPSTREAM_FAILED')
  } finally {
    await dispatcher.destroy()
    server.closeAllConnections()
    server.close()
  }
})

test('never routes /internal/*, even after prefix stripping', async () => {
  const stage = createProxyStage({ peer: () => { throw new Error('must not be reached') }, publicHost: 'h', headersTimeoutMs: 100, bodyTimeoutMs: 100, retries: 0, breakerFailures: 1, breakerCooldownMs: 1, clock: createManualClock() })
  const route = routeOf({ path: '/api/*', stripPrefix: '/api' })
  assert.equal(await outcome(() => stage.run(makeReq({ url: '/api/internal/x' }), makeCtx({ route }))), 'BW_NOT_FOUND')
  assert.equal(await outcome(() => stage.run(makeReq({ url: '/api/INTERNAL' }), makeCtx({ route }))), 'BW_NOT_FOUND')
})

test('an open circuit fails fast with 503 and Retry-After', async () => {
  const clock = createManualClock()
  const stage = createProxyStage({ peer: () => ({ url: 'http://127.0.0.1:1', spiffeId: 'x', dispatcher: new Agent() }), publicHost: 'h', headersTimeoutMs: 500, bodyTimeoutMs: 500, retries: 0, breakerFailures: 1, breakerCooldownMs: 5000, clock })
  assert.equal(await outcome(() => stage.run(makeReq(), makeCtx({ route: routeOf({}) }))), 'BW_GATEWAY_UPSTREAM_FAILED')
  const error = await stage.run(makeReq(), makeCtx({ route: routeOf({}) })).catch((e) => e)
  assert.equal(error.code, 'BW_GATEWAY_UPSTREAM_UNAVAILABLE')
  assert.equal(error.headers['retry-after'], '5')
})
