// createSecureService on an internal hop: a request repeating a header that
// must appear once is refused with a 400 problem+json before the peer, token
// or handler are looked at, and audited. Raw request bytes over real mTLS
// (TLS 1.3, the gateway's SVID), since no HTTP client sends such a request.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:tls'
import { once } from 'node:events'
import { createManualClock, svidContextOptions } from '@bulwark/core'
import { createTestCa, tempDir, type TestCa } from '@bulwark/testkit'
import { createSecureService, type SecureService } from '../src/service/index.ts'
import { createTestRuntime, listen, startFakeIdentity, testAuthorizer, type FakeIdentity, type TestRuntime } from './service-support/index.ts'

const EXTRA = `
permit (principal is Service, action == Action::"call", resource is Endpoint) when { principal.name == "gateway" && resource.service == "notes" };
`
const PUBLIC = 'https://localhost:8443'
let ca: TestCa
let identity: FakeIdentity
let rt: TestRuntime
let app: SecureService
let port: number
let token: string
let handled = 0
const clock = createManualClock(Date.now())
const home = tempDir()

before(async () => {
  ca = await createTestCa()
  identity = await startFakeIdentity({ source: await ca.source('identity'), trustDomain: ca.trustDomain, issuer: PUBLIC, clock })
  rt = await createTestRuntime({ ca, name: 'notes', home: home.path, publicUrl: PUBLIC, peers: { identity: identity.url }, clock })
  app = await createSecureService(rt, { authorizer: testAuthorizer(EXTRA, false) })
  // The counting handler: it must never run for a refused request.
  app.route({ method: ['GET', 'POST'], url: '/notes', handler: async (request) => { handled++; return { ok: true, cookie: request.headers.cookie ?? null } } })
  port = Number(new URL(await listen(app)).port)
  token = await identity.tokenFor('notes', { sub: 'alice', roles: ['customer'] })
})

after(async () => {
  await app.close()
  await identity.close()
  await rt.closeAgents()
  home.remove()
})

/** Sends `bytes` over mTLS as the gateway and parses the answer. */
async function raw(bytes: string) {
  const gateway = (await ca.source('gateway')).current()
  const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...svidContextOptions(gateway), minVersion: 'TLSv1.3', checkServerIdentity: () => undefined })
  await once(socket, 'secureConnect')
  socket.write(bytes)
  let out = ''
  socket.setEncoding('latin1').on('data', (chunk: string) => { out += chunk })
  await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 1500))])
  socket.destroy()
  const [head = '', body = ''] = out.split('\r\n\r\n')
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim()
  return { status: Number(statusLine.split(' ')[1]), headers, body }
}

const GET = (lines: string[]) => `GET /notes HTTP/1.1\r\n${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`
const cases: Array<[string, () => string, string]> = [
  ['two Authorization headers (a valid token, then garbage)', () => GET(['Host: notes', `Authorization: Bearer ${token}`, 'Authorization: garbage']), 'BW_DUPLICATE_HEADER'],
  ['two Authorization headers spelled in different case', () => GET(['Host: notes', `authorization: Bearer ${token}`, `AUTHORIZATION: Bearer ${token}`]), 'BW_DUPLICATE_HEADER'],
  ['two Host headers', () => GET(['Host: notes', 'Host: evil.example', `Authorization: Bearer ${token}`]), 'BW_DUPLICATE_HEADER'],
  ['two Cookie headers', () => GET(['Host: notes', `Authorization: Bearer ${token}`, 'Cookie: a=1', 'Cookie: b=2']), 'BW_DUPLICATE_HEADER'],
  ['two X-Request-Id headers', () => GET(['Host: notes', `Authorization: Bearer ${token}`, 'X-Request-Id: request-0001', 'X-Request-Id: request-0002']), 'BW_DUPLICATE_HEADER'],
  ['two Transfer-Encoding headers', () => `POST /notes HTTP/1.1\r\nHost: notes\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, 'BW_DUPLICATE_HEADER'],
]

for (const [name, bytes, code] of cases) {
  test(`internal hop: refuses ${name} with 400 ${code}, audited, and the handler never runs`, async () => {
    const before = { handled, events: rt.audit.events.length }
    const answer = await raw(bytes())
    assert.equal(answer.status, 400, answer.body)
    assert.match(answer.headers['content-type'] ?? '', /^application\/problem\+json/)
    assert.ok(answer.headers['x-request-id'], 'x-request-id on the refusal')
    const problem = JSON.parse(answer.body)
    assert.equal(problem.code, code)
    assert.equal(problem.instance, answer.headers['x-request-id'])
    assert.equal(handled, before.handled, 'the handler did not run')
    const event = rt.audit.events.slice(before.events).find((e) => e.reason === code)
    assert.equal(event?.type, 'request.rejected')
    assert.equal(event?.outcome, 'denied')
    assert.equal(event?.requestId, answer.headers['x-request-id'])
    assert.equal(rt.audit.events.slice(before.events).filter((e) => e.type === 'token.rejected').length, 0, 'the token was never looked at')
  })
}

test('internal hop: a repeated Content-Length is refused by the HTTP/1.1 parser and the handler never runs', async () => {
  const before = handled
  const answer = await raw(`POST /notes HTTP/1.1\r\nHost: notes\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`)
  assert.equal(answer.status, 400)
  assert.equal(handled, before)
})

test('internal hop: one of each single header still reaches the handler', async () => {
  const before = handled
  const answer = await raw(GET(['Host: notes', `Authorization: Bearer ${token}`, 'Cookie: a=1', 'X-Request-Id: request-0003', 'Accept: application/json', 'Accept: text/plain']))
  assert.equal(answer.status, 200, answer.body)
  assert.equal(handled, before + 1)
  assert.equal(answer.headers['x-request-id'], 'request-0003')
})
