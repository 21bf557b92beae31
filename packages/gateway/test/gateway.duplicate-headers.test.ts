// A request repeating a header that must appear once is ambiguous (Node keeps
// one copy, a server behind may take another): the edge refuses it with a 400
// problem+json before any stage runs, audits and counts the refusal, and the
// upstream sees nothing. Raw bytes over real TLS for HTTP/1.1, a hand-encoded
// header block for HTTP/2 (h2-raw.ts).
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { createWorld, type World } from './helpers.ts'
import { rawH2Request } from './h2-raw.ts'

let w: World
let token: string
before(async () => {
  w = await createWorld()
  token = await w.token()
})
after(async () => { await w?.close() })
beforeEach(async () => { await w.resetSeen() })

function parse(answer: string) {
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim()
  return { status: Number(statusLine.split(' ')[1]), headers, body }
}

// [name, request head lines after the request line, expected code]
const GET = (path: string, lines: string[]) => `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`
const http1Cases: Array<[string, () => string, string]> = [
  ['two Authorization headers (a valid token, then garbage)', () => GET('/api/orders', ['Host: localhost', `Authorization: Bearer ${token}`, 'Authorization: garbage']), 'BW_DUPLICATE_HEADER'],
  ['two Authorization headers spelled in different case', () => GET('/api/orders', ['Host: localhost', `authorization: Bearer ${token}`, `AUTHORIZATION: Bearer ${token}`]), 'BW_DUPLICATE_HEADER'],
  ['two Host headers', () => GET('/api/catalog/products', ['Host: localhost', 'Host: evil.example']), 'BW_DUPLICATE_HEADER'],
  ['two Cookie headers', () => GET('/.well-known/openid-configuration', ['Host: localhost', 'Cookie: session=a', 'Cookie: session=b']), 'BW_DUPLICATE_HEADER'],
  ['two X-Request-Id headers', () => GET('/api/catalog/products', ['Host: localhost', 'X-Request-Id: request-0001', 'X-Request-Id: request-0002']), 'BW_DUPLICATE_HEADER'],
  ['two Transfer-Encoding headers', () => `POST /api/orders HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, 'BW_DUPLICATE_HEADER'],
  // Node's HTTP/1.1 parser already refuses this one before any route (client-error.ts); the row keeps it so.
  ['two equal Content-Length headers', () => `POST /api/orders HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`, 'BW_BAD_REQUEST'],
]

for (const [name, bytes, code] of http1Cases) {
  test(`HTTP/1.1: refuses ${name} with 400 ${code} and the upstream sees nothing`, async () => {
    const answer = parse(await w.raw(bytes()))
    assert.equal(answer.status, 400, answer.body)
    assert.match(answer.headers['content-type'] ?? '', /^application\/problem\+json/)
    assert.ok(answer.headers['x-request-id'], 'x-request-id on the refusal')
    const problem = JSON.parse(answer.body)
    assert.equal(problem.code, code)
    assert.equal(problem.instance, answer.headers['x-request-id'])
    assert.deepEqual(await w.seen(), [], 'nothing reached the upstream')
  })
}

test('HTTP/1.1: the refusal of a repeated Authorization is audited with its reason and counted, and never reaches authentication', async () => {
  const before = w.audit.events.length
  const answer = parse(await w.raw(GET('/api/orders', ['Host: localhost', `Authorization: Bearer ${token}`, 'Authorization: garbage'])))
  assert.equal(answer.status, 400)
  const events = w.audit.events.slice(before)
  const event = events.find((e) => e.reason === 'BW_DUPLICATE_HEADER')
  assert.ok(event, JSON.stringify(events))
  assert.equal(event.type, 'request.rejected')
  assert.equal(event.outcome, 'denied')
  assert.equal(event.requestId, answer.headers['x-request-id'])
  assert.equal(event.details?.header, 'authorization')
  assert.ok(!JSON.stringify(event).includes(token.slice(-20)), 'the token is not in the event')
  assert.equal(events.filter((e) => e.type === 'authn.failed').length, 0, 'no stage ran')
  const metrics = await w.metrics.registry.metrics()
  assert.match(metrics, /bulwark_gateway_rejections_total\{[^}]*stage="edge"[^}]*code="BW_DUPLICATE_HEADER"[^}]*\} [1-9]/)
  assert.deepEqual(await w.seen(), [])
})

test('HTTP/1.1: a repeated Content-Length, refused by the parser, is audited and counted like every edge refusal', async () => {
  const before = w.audit.events.length
  const answer = parse(await w.raw(`POST /api/orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`))
  assert.equal(answer.status, 400)
  const event = w.audit.events.slice(before).find((e) => e.requestId === answer.headers['x-request-id'])
  assert.equal(event?.reason, 'BW_BAD_REQUEST')
  assert.match(await w.metrics.registry.metrics(), /bulwark_gateway_rejections_total\{[^}]*stage="connection"[^}]*code="BW_BAD_REQUEST"[^}]*\} [1-9]/)
})

test('HTTP/1.1: one of each single header and several list headers still pass', async () => {
  const answer = parse(await w.raw(GET('/api/orders', ['Host: localhost', `Authorization: Bearer ${token}`, 'Cookie: a=1', 'X-Request-Id: request-0003', 'Accept: application/json', 'Accept: text/plain'])))
  assert.equal(answer.status, 200, answer.body)
  assert.equal((await w.seen()).length, 1)
})

const pseudo = (path: string): Array<[string, string]> => [[':method', 'GET'], [':scheme', 'https'], [':authority', `localhost:${w.port}`], [':path', path]]
const http2Cases: Array<[string, () => Array<[string, string]>]> = [
  ['two authorization fields (a valid token, then garbage)', () => [...pseudo('/api/orders'), ['authorization', `Bearer ${token}`], ['authorization', 'garbage']]],
  ['two x-request-id fields', () => [...pseudo('/api/catalog/products'), ['x-request-id', 'request-0001'], ['x-request-id', 'request-0002']]],
  ['a host field that differs from :authority (RFC 9113 §8.3.1)', () => [...pseudo('/api/catalog/products'), ['host', 'evil.example']]],
]
for (const [name, fields] of http2Cases) {
  test(`HTTP/2: refuses ${name} with 400 BW_DUPLICATE_HEADER and the upstream sees nothing`, async () => {
    const answer = await rawH2Request({ port: w.port, ca: w.ca.rootPem, fields: fields() })
    assert.equal(answer.status, 400, answer.body)
    assert.match(answer.headers['content-type'] ?? '', /^application\/problem\+json/)
    assert.ok(answer.headers['x-request-id'])
    const problem = JSON.parse(answer.body)
    assert.equal(problem.code, 'BW_DUPLICATE_HEADER')
    assert.equal(problem.instance, answer.headers['x-request-id'])
    assert.deepEqual(await w.seen(), [], 'nothing reached the upstream')
  })
}

test('gRPC: a call with two authorization fields is refused in trailers with INVALID_ARGUMENT before any stage, and the upstream sees nothing', async () => {
  const answer = await rawH2Request({
    port: w.port, ca: w.ca.rootPem,
    fields: [[':method', 'POST'], [':scheme', 'https'], [':authority', `localhost:${w.port}`], [':path', '/shop.catalog.v1.Catalog/CreateProduct'],
      ['content-type', 'application/grpc'], ['te', 'trailers'], ['authorization', `Bearer ${token}`], ['authorization', 'garbage']],
  })
  assert.equal(answer.status, 200, answer.body)
  assert.equal(answer.headers['grpc-status'], '3', JSON.stringify(answer.headers))
  assert.equal(answer.headers['bulwark-code'], 'BW_DUPLICATE_HEADER')
  assert.deepEqual(await w.seen(), [], 'nothing reached the upstream')
})

test('HTTP/2: several cookie fields (RFC 9113 §8.2.3) and a host equal to :authority are accepted', async () => {
  const answer = await rawH2Request({
    port: w.port, ca: w.ca.rootPem,
    fields: [...pseudo('/.well-known/openid-configuration'), ['host', `LOCALHOST:${w.port}`], ['cookie', 'a=1'], ['cookie', 'b=2']],
  })
  assert.equal(answer.status, 200, answer.body)
  assert.equal(JSON.parse(answer.body).cookie, 'a=1; b=2')
})

// Characterises the HTTP/2 layer (nghttp2) below the gateway's own check: these never reach a route.
test('HTTP/2: a repeated host or content-length and any transfer-encoding are refused by the HTTP/2 layer itself', async () => {
  for (const extra of [[['host', 'a.example'], ['host', 'b.example']], [['content-length', '0'], ['content-length', '0']], [['transfer-encoding', 'chunked']]] as Array<Array<[string, string]>>) {
    const answer = await rawH2Request({ port: w.port, ca: w.ca.rootPem, fields: [...pseudo('/api/catalog/products'), ...extra] })
    assert.ok(answer.reset || answer.status === 400, `${JSON.stringify(extra)}: ${answer.status}`)
  }
  assert.deepEqual(await w.seen(), [])
})
