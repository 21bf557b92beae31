// Every bad input of the issue: a clean 4xx problem+json, and the upstream sees nothing.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { SignJWT, generateKeyPair, exportSPKI } from 'jose'
import { createHmac } from 'node:crypto'
import { createWorld, type World } from './helpers.ts'

let w: World
before(async () => { w = await createWorld() })
after(async () => { await w?.close() })
beforeEach(async () => { await w.resetSeen() })

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

async function assertRefused(res: { status: number; headers: Record<string, string>; json: any; text: string }, status: number, code?: string) {
  assert.equal(res.status, status, res.text)
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/)
  assert.ok(res.headers['x-request-id'], 'x-request-id on every response')
  assert.equal(res.json.instance, res.headers['x-request-id'])
  if (code) assert.equal(res.json.code, code)
  assert.doesNotMatch(res.text, /at .*\.ts:\d+/, 'no stack trace')
  assert.deepEqual(await w.seen(), [], 'nothing reached the upstream')
}

function payload(extra: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000)
  return { iss: w.publicUrl, aud: w.publicUrl, sub: 'alice', client_id: 'shop-cli', iat: now, exp: now + 300, ...extra }
}

const tokenCases: Array<[string, () => Promise<string>, string]> = [
  ['alg none with an empty signature', async () => `${b64({ alg: 'none', typ: 'at+jwt', kid: 'k1' })}.${b64(payload())}.`, 'BW_AUTHN_TOKEN_MALFORMED'],
  ['alg none with a signature', async () => `${b64({ alg: 'none', typ: 'at+jwt', kid: 'k1' })}.${b64(payload())}.c2ln`, 'BW_AUTHN_TOKEN_ALGORITHM'],
  ['HS256 signed with the public key as the HMAC secret', async () => {
    const secret = await exportSPKI(w.signingKeys.publicKey)
    const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' })}.${b64(payload())}`
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
  }, 'BW_AUTHN_TOKEN_ALGORITHM'],
  ['kid path traversal', async () => w.sign(payload(), { kid: '../../../../etc/passwd' }), 'BW_AUTHN_TOKEN_HEADER_REFUSED'],
  ['kid SQL injection', async () => w.sign(payload(), { kid: "k1' OR '1'='1" }), 'BW_AUTHN_TOKEN_HEADER_REFUSED'],
  ['jku header', async () => new SignJWT(payload()).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k1', jku: 'https://evil.example/jwks' }).sign(w.signingKeys.privateKey), 'BW_AUTHN_TOKEN_HEADER_REFUSED'],
  ['x5u header', async () => new SignJWT(payload()).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k1', x5u: 'https://evil.example/cert' }).sign(w.signingKeys.privateKey), 'BW_AUTHN_TOKEN_HEADER_REFUSED'],
  ['embedded jwk header with the attacker key', async () => {
    const evil = await generateKeyPair('RS256', { extractable: true })
    const { exportJWK } = await import('jose')
    return new SignJWT(payload()).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k1', jwk: await exportJWK(evil.publicKey) }).sign(evil.privateKey)
  }, 'BW_AUTHN_TOKEN_HEADER_REFUSED'],
  ['signed by another key under a known kid', async () => {
    const evil = await generateKeyPair('RS256')
    return new SignJWT(payload()).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' }).sign(evil.privateKey)
  }, 'BW_AUTHN_TOKEN_INVALID'],
  ['expired', async () => w.token('alice', {}, { iat: Math.floor(Date.now() / 1000) - 900, ttl: -600 }), 'BW_AUTHN_TOKEN_EXPIRED'],
  ['not yet valid (future nbf)', async () => w.token('alice', {}, { nbf: Math.floor(Date.now() / 1000) + 600 }), 'BW_AUTHN_TOKEN_NOT_YET_VALID'],
  ['wrong audience', async () => w.token('alice', {}, { audience: 'https://other.example' }), 'BW_AUTHN_TOKEN_CLAIMS'],
  ['wrong issuer', async () => w.token('alice', {}, { issuer: 'https://evil.example' }), 'BW_AUTHN_TOKEN_CLAIMS'],
  ['wrong typ (plain JWT)', async () => w.token('alice', {}, { typ: 'JWT' }), 'BW_AUTHN_TOKEN_TYPE'],
  ['an ID token used as an access token', async () => w.sign({ sub: 'alice', nonce: 'n', auth_time: 1, azp: 'shop-cli' }, { typ: 'JWT', audience: 'shop-cli' }), 'BW_AUTHN_TOKEN_TYPE'],
  ['a huge token', async () => w.token('alice', { pad: 'x'.repeat(9000) }), 'BW_AUTHN_TOKEN_TOO_LARGE'],
  ['missing client_id', async () => w.sign({ sub: 'alice' }), 'BW_AUTHN_TOKEN_CLAIMS'],
  ['a JWE (five parts)', async () => 'a.b.c.d.e', 'BW_AUTHN_TOKEN_MALFORMED'],
  ['a certificate-bound token without the certificate', async () => w.token('alice', { cnf: { 'x5t#S256': 'A'.repeat(43) } }), 'BW_AUTHN_TOKEN_CERT_BINDING'],
]

for (const [name, make, code] of tokenCases) {
  test(`refuses ${name} with 401 ${code}`, async () => {
    const res = await w.fetch('/api/orders/o1', { headers: { authorization: `Bearer ${await make()}` } })
    await assertRefused(res, 401, code)
    assert.match(String(res.headers['www-authenticate']), /^Bearer/)
  })
}

test('refuses a request without a token and audits it', async () => {
  const res = await w.fetch('/api/orders/o1')
  await assertRefused(res, 401, 'BW_AUTHN_TOKEN_MISSING')
  const event = w.events('authn.failed').find((e) => e.requestId === res.headers['x-request-id'])
  assert.equal(event?.reason, 'BW_AUTHN_TOKEN_MISSING')
  assert.equal(event?.outcome, 'denied')
})

test('refuses an Authorization header that is not a bearer token', async () => {
  await assertRefused(await w.fetch('/api/orders/o1', { headers: { authorization: 'Basic YWxpY2U6cGFzcw==' } }), 401, 'BW_AUTHN_TOKEN_MALFORMED')
})

test('random kids cause at most one JWKS refetch per interval', async () => {
  await w.fetch('/api/orders/o1', { headers: { authorization: `Bearer ${await w.token()}` } })
  const before = w.identityState.jwksFetches
  for (let i = 0; i < 5; i++) {
    const res = await w.fetch('/api/orders/o1', { headers: { authorization: `Bearer ${await w.token('alice', {}, { kid: `random-${i}` })}` } })
    assert.equal(res.status, 401)
  }
  assert.ok(w.identityState.jwksFetches - before <= 1, `fetched ${w.identityState.jwksFetches - before} times`)
})

const orders = (body: string, type = 'application/json') => async () => {
  const token = await w.token()
  return w.fetch('/api/orders', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body })
}
const bodyCases: Array<[string, () => Promise<any>, number, string]> = [
  ['duplicate JSON keys', orders('{"items":[{"productId":"p1","quantity":1}],"paymentMethodId":"pm_1","paymentMethodId":"pm_2"}'), 400, 'BW_DUPLICATE_JSON_KEY'],
  ['duplicate JSON keys spelled with escapes', orders('{"items":[],"paymentMethodId":"a","paymentMethod\\u0049d":"b"}'), 400, 'BW_DUPLICATE_JSON_KEY'],
  ['invalid JSON', orders('{"items":[{"productId":"p1","quantity":1}],'), 400, 'BW_INVALID_JSON'],
  ['an unknown field', orders('{"items":[{"productId":"p1","quantity":1}],"paymentMethodId":"pm_1","isAdmin":true}'), 400, 'BW_VALIDATION_FAILED'],
  ['a schema violation', orders('{"items":[{"productId":"p1","quantity":-1}],"paymentMethodId":"pm_1"}'), 400, 'BW_VALIDATION_FAILED'],
  ['deeply nested JSON', orders(`${'['.repeat(100)}${']'.repeat(100)}`), 400, 'BW_JSON_TOO_DEEP'],
  ['a wrong content type', orders('items=1', 'application/x-www-form-urlencoded'), 415, 'BW_UNSUPPORTED_MEDIA_TYPE'],
  ['an oversized body', orders(JSON.stringify({ items: [], paymentMethodId: 'x'.repeat(2 * 1024 * 1024) })), 413, 'BW_PAYLOAD_TOO_LARGE'],
  ['a limit above 100', async () => w.fetch('/api/catalog/products?limit=500'), 400, 'BW_VALIDATION_FAILED'],
  ['a repeated query parameter', async () => w.fetch('/api/catalog/products?limit=5&limit=6'), 400, 'BW_VALIDATION_FAILED'],
  ['an unknown query parameter', async () => w.fetch('/api/catalog/products?admin=1'), 400, 'BW_VALIDATION_FAILED'],
]
for (const [name, send, status, code] of bodyCases) {
  test(`refuses ${name} with ${status}`, async () => { await assertRefused(await send(), status, code) })
}

const pathCases: Array<[string, number]> = [
  ['/api/../internal/orders', 400], ['/api/orders/../../internal', 400], ['/api/orders/%2e%2e/internal', 400],
  ['/api/orders/%2E%2E/internal', 400], ['/api/orders/..%2finternal', 400], ['/api/orders%2f1', 400],
  ['/api/orders/%252e%252e/internal', 400], ['/api/orders/%252f', 400], ['//api/orders/1', 400], ['/api//orders/1', 400],
  ['/api/orders/%5c..%5cinternal', 400], ['/api/./orders/1', 400], ['/internal/orders', 404], ['/api/orders/1%00', 400],
  ['/api/orders/\\..\\internal', 400], ['http://localhost/api/orders/1', 400], ['/api/orders/1#x', 400],
]
for (const [path, status] of pathCases) {
  test(`refuses the path trick ${JSON.stringify(path)} with ${status}`, async () => {
    const token = await w.token()
    const answer = await w.raw(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`)
    assert.ok(answer.startsWith(`HTTP/1.1 ${status} `), answer.slice(0, 200))
    assert.match(answer, /x-request-id: /i)
    assert.deepEqual(await w.seen(), [])
  })
}

const rawCases: Array<[string, string, RegExp]> = [
  ['conflicting Content-Length and Transfer-Encoding', 'POST /api/orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n', /^HTTP\/1.1 400 /],
  ['two different Content-Lengths', 'POST /api/orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{}', /^HTTP\/1.1 400 /],
  ['an obfuscated Transfer-Encoding', 'POST /api/orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\nConnection: close\r\n\r\n0\r\n\r\n', /^HTTP\/1.1 4\d\d /],
  ['oversized headers', `GET /api/catalog/products HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`, /^HTTP\/1.1 431 /],
  ['too many headers', `GET /api/catalog/products HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 100 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\nConnection: close\r\n\r\n`, /^HTTP\/1.1 431 /],
  ['a header with a control byte', 'GET /api/catalog/products HTTP/1.1\r\nHost: localhost\r\nX-Evil: a\x01b\r\nConnection: close\r\n\r\n', /^HTTP\/1.1 400 /],
]
for (const [name, bytes, expected] of rawCases) {
  test(`refuses ${name}`, async () => {
    const answer = await w.raw(bytes)
    assert.match(answer, expected, answer.slice(0, 300))
    assert.match(answer, /content-type: application\/problem\+json/i)
    assert.match(answer, /x-request-id: /i)
    assert.deepEqual(await w.seen(), [])
  })
}

test('HTTP/2: path tricks and oversized header lists are refused too', async () => {
  const { connect: h2connect } = await import('node:http2')
  const session = h2connect(`https://localhost:${w.port}`, { ca: w.ca.rootPem })
  const ask = (headers: Record<string, string>) => new Promise<{ status: number; body: string; reset?: boolean }>((resolve) => {
    const stream = session.request(headers)
    let body = ''
    let status = 0
    stream.on('response', (h) => { status = Number(h[':status']) })
    stream.setEncoding('utf8').on('data', (chunk: string) => { body += chunk })
    stream.on('end', () => resolve({ status, body }))
    stream.on('error', () => resolve({ status, body, reset: true }))
    stream.end()
  })
  try {
    const token = await w.token()
    for (const path of ['/api/../internal/x', '/api/orders/%2e%2e/internal', '//api/orders/1', '/internal/x']) {
      const res = await ask({ ':path': path, authorization: `Bearer ${token}` })
      assert.ok(res.status === 400 || res.status === 404, `${path}: ${res.status}`)
      assert.match(res.body, /"instance"/)
    }
    const huge = await ask({ ':path': '/api/catalog/products', 'x-big': 'a'.repeat(20_000) })
    assert.ok(huge.reset || huge.status === 431, `oversized header list: ${huge.status}`)
    assert.deepEqual(await w.seen(), [])
  } finally {
    session.destroy()
  }
})
