// The whole pipeline against real upstreams over mTLS on loopback.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:tls'
import { once } from 'node:events'
import { Agent, request } from 'undici'
import { createWorld, type World } from './helpers.ts'

let w: World
before(async () => { w = await createWorld({ manualClock: true }) })
after(async () => { await w?.close() })

const bearer = async (sub = 'alice', extra = {}) => ({ authorization: `Bearer ${await w.token(sub, extra)}` })

test('proxies /api/orders/{id} to orders /orders/{id} with an exchanged token, never the caller\'s', async () => {
  const token = await w.token()
  const res = await w.fetch('/api/orders/o1?x=1', { headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json.service, 'orders')
  assert.equal(res.json.url, '/orders/o1?x=1')
  assert.ok(res.json.authorization.startsWith('Bearer '))
  assert.notEqual(res.json.authorization, `Bearer ${token}`)
  assert.equal(w.identityState.lastExchange?.audience, w.id('orders'))
  assert.equal(w.identityState.lastExchange?.grant_type, 'urn:ietf:params:oauth:grant-type:token-exchange')
  assert.equal(w.identityState.lastExchange?.client_id, 'svc-gateway')
  const seen = await w.seen()
  assert.ok(seen.every((s) => !JSON.stringify(s.headers).includes(token)), 'caller token never forwarded')
})

test('accepts tokens addressed to the gateway\'s SPIFFE ID (what identity issues)', async () => {
  const res = await w.fetch('/api/orders/o1', { headers: { authorization: `Bearer ${await w.token('alice', {}, { audience: w.id('gateway') })}` } })
  assert.equal(res.status, 200, res.text)
})

test('caches the exchanged token until it expires', async () => {
  const headers = await bearer('carol')
  const before = w.identityState.exchanges
  for (let i = 0; i < 3; i++) assert.equal((await w.fetch('/api/orders/o1', { headers })).status, 200)
  assert.equal(w.identityState.exchanges - before, 1)
})

test('strips spoofable and hop-by-hop headers and sets the forwarded ones', async () => {
  await w.resetSeen()
  const res = await w.fetch('/api/users/me', { headers: {
    ...await bearer(), 'x-forwarded-for': '6.6.6.6', 'x-real-ip': '6.6.6.6', 'x-request-id': 'spoofed-request-id', forwarded: 'for=6.6.6.6',
    cookie: 'session=abc', 'x-http-method-override': 'DELETE', 'x-forwarded-host': 'evil.example', 'x-bulwark-peer': 'svc/admin', 'x-custom': 'kept',
  } })
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json.url, '/users/me')
  const [seen] = await w.seen()
  const h = seen!.headers
  assert.match(String(h['x-forwarded-for']), /^(127\.0\.0\.1|::1)$/)
  assert.equal(h['x-request-id'], res.headers['x-request-id'])
  assert.notEqual(h['x-request-id'], 'spoofed-request-id')
  assert.equal(h['x-forwarded-host'], new URL(w.publicUrl).host)
  assert.equal(h['x-forwarded-proto'], 'https')
  for (const name of ['x-real-ip', 'forwarded', 'cookie', 'x-http-method-override', 'x-bulwark-peer']) assert.equal(h[name], undefined, name)
  assert.equal(h['x-custom'], 'kept')
})

test('sets security headers and removes X-Powered-By and Server', async () => {
  const res = await w.fetch('/api/catalog/products')
  assert.equal(res.status, 200)
  assert.equal(res.headers['x-powered-by'], undefined)
  assert.equal(res.headers.server, undefined)
  assert.match(res.headers['strict-transport-security']!, /max-age=\d+/)
  assert.equal(res.headers['x-content-type-options'], 'nosniff')
  assert.equal(res.headers['referrer-policy'], 'no-referrer')
  assert.ok(res.headers['x-request-id'])
  assert.match(res.headers['ratelimit-policy']!, /q=\d+;w=\d+/)
})

test('public routes skip authentication but are still authorized and validated', async () => {
  const res = await w.fetch('/api/catalog/products?limit=10')
  assert.equal(res.status, 200)
  assert.equal(res.json.url, '/catalog/products?limit=10')
  assert.equal(res.json.authorization, null, 'no token sent upstream for anonymous calls')
  assert.equal((await w.fetch('/api/catalog/products/p1')).json.url, '/catalog/products/p1')
})

test('routes identity\'s public endpoints with the forwarded headers identity needs', async () => {
  const res = await w.fetch('/.well-known/openid-configuration', { headers: { cookie: '_session=1', 'x-forwarded-for': '9.9.9.9' } })
  assert.equal(res.status, 200, res.text)
  assert.match(res.json.forwarded.for, /^(127\.0\.0\.1|::1)$/)
  assert.equal(res.json.forwarded.proto, 'https')
  assert.equal(res.json.forwarded.host, new URL(w.publicUrl).host)
  assert.equal(res.json.cookie, '_session=1')
})

test('requires the admin role on admin routes, then asks Cedar', async () => {
  const customer = await w.fetch('/api/admin/users', { headers: await bearer('bob') })
  assert.equal(customer.status, 403)
  assert.equal(customer.json.code, 'BW_AUTHZ_ROLE_MISSING')
  const admin = await w.fetch('/api/admin/users', { headers: await bearer('root', { roles: ['admin'] }) })
  assert.equal(admin.status, 200, admin.text)
  assert.equal(admin.json.url, '/admin/users')
})

test('denies by Cedar policy and audits the decision', async () => {
  const res = await w.fetch('/api/orders/o1', { headers: await bearer('mallory') })
  assert.equal(res.status, 403)
  assert.equal(res.json.code, 'BW_AUTHZ_DENIED')
  const event = w.events('authz.denied').find((e) => e.requestId === res.headers['x-request-id'])
  assert.equal(event?.actor.id, 'mallory')
  assert.equal(event?.route, 'orders.get')
})

test('a client-credentials token is a Client principal for Cedar', async () => {
  const client = { authorization: `Bearer ${await w.token('reporting-job', { client_id: 'reporting-job', scope: 'orders:read:all', roles: [] })}` }
  assert.equal((await w.fetch('/api/orders', { headers: client })).status, 200)
  const create = await w.fetch('/api/orders', { method: 'POST', headers: { ...client, 'content-type': 'application/json' }, body: '{"items":[{"productId":"p","quantity":1}],"paymentMethodId":"pm"}' })
  assert.equal(create.status, 403)
})

test('forwards a valid JSON body unchanged', async () => {
  const body = '{"items":[{"productId":"p1","quantity":2}],"paymentMethodId":"pm_1"}'
  const res = await w.fetch('/api/orders', { method: 'POST', headers: { ...await bearer(), 'content-type': 'application/json' }, body })
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json.body, body)
  assert.equal(res.json.url, '/orders')
})

test('answers 404 for unknown routes and 405 with Allow for wrong methods', async () => {
  const missing = await w.fetch('/api/nowhere')
  assert.equal(missing.status, 404)
  const wrong = await w.fetch('/api/catalog/products/p1', { method: 'DELETE' })
  assert.equal(wrong.status, 405)
  assert.equal(wrong.headers.allow, 'GET')
})

test('adds a CSP to HTML answers', async () => {
  w.gateway.reload([...w.gateway.routes.routes.map(stripCompiled), { id: 'catalog.html', path: '/api/catalog/html', methods: ['GET'], upstream: 'catalog', public: true, stripPrefix: '/api' }])
  const res = await w.fetch('/api/catalog/html')
  assert.equal(res.status, 200)
  assert.match(res.headers['content-security-policy']!, /default-src 'self'/)
})

test('rate limits a route with 429, Retry-After and RateLimit headers, and audits it', async () => {
  w.gateway.reload([{ id: 'limited', path: '/api/catalog/limited', methods: ['GET'], upstream: 'catalog', public: true, stripPrefix: '/api', rateLimit: { rate: 1, burst: 2 } }, ...w.gateway.routes.routes.map(stripCompiled)])
  assert.equal((await w.fetch('/api/catalog/limited')).status, 200)
  assert.equal((await w.fetch('/api/catalog/limited')).status, 200)
  const limited = await w.fetch('/api/catalog/limited')
  assert.equal(limited.status, 429)
  assert.equal(limited.json.code, 'BW_RATE_LIMITED')
  assert.ok(Number(limited.headers['retry-after']) >= 1)
  assert.match(limited.headers['ratelimit']!, /^"route-limited";r=0;t=\d+$/)
  assert.match(limited.headers['ratelimit-policy']!, /^"route-limited";q=2;w=2$/)
  assert.ok(w.events('rate_limit.exceeded').some((e) => e.requestId === limited.headers['x-request-id']))
  w.clock!.advance(2000)
  assert.equal((await w.fetch('/api/catalog/limited')).status, 200)
})

test('CORS: exact origins per route; a preflight from elsewhere is refused and reaches no upstream', async () => {
  w.gateway.reload([{ id: 'catalog.cors', path: '/api/catalog/cors', methods: ['GET'], upstream: 'catalog', public: true, stripPrefix: '/api', cors: { origins: ['https://shop.example'] } }, ...w.gateway.routes.routes.map(stripCompiled)])
  await w.resetSeen()
  const preflight = await w.fetch('/api/catalog/cors', { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET' } })
  assert.equal(preflight.status, 204)
  assert.equal(preflight.headers['access-control-allow-origin'], 'https://shop.example')
  assert.equal(preflight.headers['access-control-allow-methods'], 'GET')
  assert.equal(preflight.headers.vary, 'Origin')
  assert.equal(preflight.headers['access-control-allow-credentials'], undefined)
  const foreign = await w.fetch('/api/catalog/cors', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } })
  assert.equal(foreign.status, 403)
  assert.equal(foreign.json.code, 'BW_CORS_REFUSED')
  assert.equal(foreign.headers['access-control-allow-origin'], undefined)
  const badMethod = await w.fetch('/api/catalog/cors', { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'DELETE' } })
  assert.ok(badMethod.status === 403 || badMethod.status === 405, `a method the route does not allow is refused (${badMethod.status})`)
  assert.deepEqual(await w.seen(), [], 'preflights, allowed or not, are answered by the gateway alone')
  const allowed = await w.fetch('/api/catalog/cors', { headers: { origin: 'https://shop.example' } })
  assert.equal(allowed.status, 200)
  assert.equal(allowed.headers['access-control-allow-origin'], 'https://shop.example')
  const other = await w.fetch('/api/catalog/cors', { headers: { origin: 'https://evil.example' } })
  assert.equal(other.headers['access-control-allow-origin'], undefined, 'no CORS grant for another origin')
  // A route without CORS grants nothing to anyone.
  const plain = await w.fetch('/api/catalog/products', { headers: { origin: 'https://shop.example' } })
  assert.equal(plain.headers['access-control-allow-origin'], undefined)
})

test('refuses a bad route table on reload and keeps the old one', async () => {
  const before = w.gateway.routes
  assert.throws(() => w.gateway.reload([{ id: 'bad', path: '/x/*/y', methods: ['GET'], upstream: 'catalog' }]), /`\*` may only end a path/)
  assert.throws(() => w.gateway.reload([{ id: 'bad', path: '/x', methods: ['BREW'], upstream: 'catalog' }]))
  assert.equal(w.gateway.routes, before)
  assert.equal((await w.fetch('/api/catalog/products')).status, 200)
})

test('denies a revoked subject within one second', async () => {
  const headers = await bearer('dave')
  assert.equal((await w.fetch('/api/orders/o1', { headers })).status, 200)
  const start = Date.now()
  w.revocationFeed.push({ kind: 'subject', value: 'dave', revokedAt: new Date(w.clock!.now() + 1000).toISOString() })
  let status = 200
  while (status === 200 && Date.now() - start < 1000) {
    status = (await w.fetch('/api/orders/o1', { headers })).status
    if (status === 200) await new Promise((r) => setTimeout(r, 20))
  }
  assert.equal(status, 401)
  assert.ok(Date.now() - start < 1000)
})

test('blocks a subject named by the audit service\'s block feed', async () => {
  const headers = await bearer('eve')
  assert.equal((await w.fetch('/api/orders/o1', { headers })).status, 200)
  w.blockFeed.push({ kind: 'subject', value: 'eve', until: w.clock!.now() + 60_000 })
  let res = await w.fetch('/api/orders/o1', { headers })
  for (let i = 0; i < 50 && res.status === 200; i++) {
    await new Promise((r) => setTimeout(r, 20))
    res = await w.fetch('/api/orders/o1', { headers })
  }
  assert.equal(res.status, 429)
  assert.equal(res.json.code, 'BW_GATEWAY_BLOCKED')
  w.clock!.advance(61_000)
  assert.equal((await w.fetch('/api/orders/o1', { headers: await bearer('eve') })).status, 200)
})

test('accepts tokens from a rotated signing key once the refetch interval allows', async () => {
  await w.rotateSigningKey('k2')
  w.clock!.advance(11_000)
  const res = await w.fetch('/api/orders/o1', { headers: await bearer('frank') })
  assert.equal(res.status, 200, res.text)
})

test('maps upstream failures to 502/503/504 problems without details', async () => {
  w.gateway.reload([...w.gateway.routes.routes.map(stripCompiled), { id: 'broken', path: '/api/catalog/reset', methods: ['POST'], upstream: 'catalog', public: true, stripPrefix: '/api', contentTypes: ['*'] }])
  const res = await w.fetch('/api/catalog/reset', { method: 'POST' })
  assert.equal(res.status, 502)
  assert.equal(res.json.instance, res.headers['x-request-id'])
  assert.doesNotMatch(res.text, /ECONNRESET|socket/)
})

test('GET /healthz is 200 once every peer reports ready', async () => {
  let res = await w.fetch('/healthz')
  for (let i = 0; i < 50 && res.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 50))
    res = await w.fetch('/healthz')
  }
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json.components.orders, true)
})

test('speaks HTTP/2 by ALPN', async () => {
  const h2 = new Agent({ connect: { ca: w.ca.rootPem, servername: 'localhost' }, allowH2: true })
  const res = await request(`https://localhost:${w.port}/api/catalog/products`, { dispatcher: h2 })
  assert.equal(res.statusCode, 200)
  assert.equal(((await res.body.json()) as { service: string }).service, 'catalog')
  await h2.close()
})

test('answers on both loopback addresses', async () => {
  for (const host of ['127.0.0.1', '::1']) {
    const socket = connect({ host, port: w.port, servername: 'localhost', ca: w.ca.rootPem, ALPNProtocols: ['http/1.1'] })
    await once(socket, 'secureConnect')
    socket.write('GET /api/catalog/products HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { text += chunk })
    await once(socket, 'end')
    assert.match(text, /^HTTP\/1.1 200 /, host)
  }
})

test('refuses TLS 1.1 and non-ECDHE/AEAD suites at the edge', async () => {
  const attempt = async (options: object) => {
    const socket = connect({ host: '127.0.0.1', port: w.port, servername: 'localhost', ca: w.ca.rootPem, ...options })
    try {
      await once(socket, 'secureConnect')
      return true
    } catch {
      return false
    } finally {
      socket.destroy()
    }
  }
  assert.equal(await attempt({ maxVersion: 'TLSv1.2', minVersion: 'TLSv1.2' }), true)
  assert.equal(await attempt({ maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' }), false)
  assert.equal(await attempt({ maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA256:AES256-GCM-SHA384' }), false)
})

test('rotates the edge certificate with the SVID', async () => {
  const next = await w.ca.issue('gateway', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] })
  w.gatewaySource.update(next)
  const socket = connect({ host: '127.0.0.1', port: w.port, servername: 'localhost', ca: w.ca.rootPem })
  await once(socket, 'secureConnect')
  assert.equal(socket.getPeerCertificate().serialNumber.toUpperCase(), next.serial)
  socket.destroy()
})

test('exposes Prometheus metrics per route and stage to loopback', async () => {
  await w.fetch('/api/orders/o1', { headers: await bearer('grace') })
  await w.fetch('/api/orders/o1', { headers: await bearer('mallory') })
  const res = await w.fetch('/metrics')
  assert.equal(res.status, 200)
  assert.match(res.text, /bulwark_gateway_requests_total\{[^}]*route="orders.get",method="GET",status="200"/)
  assert.match(res.text, /bulwark_gateway_stage_duration_seconds_bucket\{[^}]*stage="authenticate"/)
  assert.match(res.text, /bulwark_gateway_rejections_total\{[^}]*stage="authorize",code="BW_AUTHZ_DENIED"/)
})

function stripCompiled(route: Record<string, unknown>) {
  const { segments: _s, wildcard: _w, orSelf: _o, validateBody: _b, validateQuery: _q, validateParams: _p, allowIps: _a, denyIps: _d, ...rest } = route
  return rest
}
