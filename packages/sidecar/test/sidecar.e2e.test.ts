// The sidecar end to end: a Python (standard library) app behind it, the real
// gateway in front, tokens from a real issuer, Cedar deciding. The app logs
// every request it receives, so "never reaches the app" is asserted on what
// the app saw, not on a status code alone.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { decodeJwt } from 'jose'
import { createWorld, headerValues, type World } from './world.ts'

let w: World
let alice: string

before(async () => {
  w = await createWorld()
  alice = await w.userToken('alice')
}, { timeout: 60_000 })
after(async () => { await w?.close() })

const last = () => w.appLog().at(-1)!

test('alice\'s request reaches the Python app through the gateway with her verified identity and the internal token', async () => {
  const res = await w.edge('GET', '/api/notes', { token: alice })
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json.subject, 'alice')
  const seen = last()
  assert.equal(seen.path, '/notes')
  assert.deepEqual(headerValues(seen, 'x-bulwark-subject'), ['alice'])
  assert.deepEqual(headerValues(seen, 'x-bulwark-client'), ['shop-cli'])
  assert.deepEqual(headerValues(seen, 'x-bulwark-roles'), ['customer'])
  assert.deepEqual(headerValues(seen, 'x-bulwark-scopes'), ['openid notes'])
  assert.deepEqual(headerValues(seen, 'x-bulwark-caller'), ['gateway'])
  assert.deepEqual(headerValues(seen, 'x-request-id'), [res.headers['x-request-id']])
  // The internal token for apps that verify it themselves: addressed to this service, never the user's edge token.
  const [authorization] = headerValues(seen, 'authorization')
  assert.match(authorization ?? '', /^Bearer /)
  assert.notEqual(authorization, `Bearer ${alice}`)
  assert.equal(decodeJwt(authorization!.slice(7)).aud, w.id('notes'))
  // Hop-by-hop fields of the app's answer (RFC 9110 §7.6.1) stop at the sidecar.
  assert.equal(res.headers['x-hop-secret'], undefined)
})

test('a forged X-Bulwark-Subject never reaches the app: every caller-sent copy, in any case, is replaced by the verified one', async () => {
  const res = await w.edge('GET', '/api/notes', { token: alice, headers: ['X-Bulwark-Subject', 'mallory', 'x-bulwark-roles', 'admin'] })
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json.subject, 'alice')
  // Straight at the sidecar with the gateway's identity: two copies in mixed case, and forged caller and request id.
  const token = await w.identity.tokenFor('notes', { sub: 'alice' })
  const direct = await w.direct('gateway', 'notes', 'GET', '/notes', {
    headers: ['authorization', `Bearer ${token}`, 'X-Bulwark-Subject', 'mallory', 'x-BULWARK-subject', 'root', 'X-Bulwark-Caller', 'payments', 'x-bulwark-scopes', 'admin:all', 'X-Bulwark-Anything', 'x'],
  })
  assert.equal(direct.status, 200, direct.text)
  const seen = last()
  assert.deepEqual(headerValues(seen, 'x-bulwark-subject'), ['alice'])
  assert.deepEqual(headerValues(seen, 'x-bulwark-caller'), ['gateway'])
  assert.deepEqual(headerValues(seen, 'x-bulwark-scopes'), ['openid'])
  assert.deepEqual(headerValues(seen, 'x-bulwark-anything'), [])
  assert.ok(!JSON.stringify(w.appLog()).includes('mallory'), 'the forged subject reached the app')
})

test('a request without a token never reaches the app', async () => {
  const before = w.appLog().length
  const viaGateway = await w.edge('GET', '/api/notes')
  assert.equal(viaGateway.status, 401)
  const direct = await w.direct('gateway', 'notes', 'GET', '/notes')
  assert.equal(direct.status, 401)
  assert.equal(direct.json.code, 'BW_AUTHN_TOKEN_MISSING', direct.text)
  const forged = await w.direct('gateway', 'notes', 'GET', '/notes', { headers: ['authorization', `Bearer ${alice}`] })
  assert.equal(forged.status, 401, 'the user\'s edge token is not addressed to the service')
  assert.equal(w.appLog().length, before)
  assert.ok(w.events(w.notesRt, 'token.rejected').length >= 2)
})

test('a call from a service the policy does not allow never reaches the app', async () => {
  const before = w.appLog().length
  const token = await w.identity.tokenFor('notes', { sub: 'alice', actor: w.id('orders') })
  const res = await w.direct('orders', 'notes', 'GET', '/notes', { headers: ['authorization', `Bearer ${token}`] })
  assert.equal(res.status, 403)
  assert.match(res.text, /BW_PEER_IDENTITY/)
  const wiki = await w.direct('orders', 'wiki', 'GET', '/anything', { headers: ['authorization', `Bearer ${token}`] })
  assert.equal(wiki.status, 403, 'without declared routes the peer policy applies the same')
  assert.equal(w.appLog().length, before)
  const denied = w.events(w.notesRt, 'authz.denied').find((e) => e.reason === 'BW_PEER_IDENTITY')
  assert.equal(denied?.actor.spiffeId, w.id('orders'))
})

test('a declared route\'s Cedar action is decided on every request: alice may not delete a note, an admin may', async () => {
  const before = w.appLog().length
  const res = await w.edge('DELETE', '/api/notes/n1', { token: alice })
  assert.equal(res.status, 403, res.text)
  assert.match(res.text, /BW_AUTHZ_DENIED/)
  assert.equal(w.appLog().length, before)
  const denied = w.events(w.notesRt, 'authz.denied').find((e) => e.action === 'notes.delete')
  assert.equal(denied?.resource, 'Endpoint::"notes:DELETE /notes/:id"')
  const admin = await w.edge('DELETE', '/api/notes/n1', { token: await w.userToken('root', ['admin']) })
  assert.equal(admin.status, 200, admin.text)
  assert.equal(last().method, 'DELETE')
  assert.equal(last().path, '/notes/n1')
})

test('a declared route\'s JSON Schema refuses a bad body before the app; a good one arrives as the validated JSON', async () => {
  const before = w.appLog().length
  const extra = await w.edge('POST', '/api/notes', { token: alice, body: '{"text":"hi","owner":"bob"}' })
  assert.equal(extra.status, 400, extra.text)
  const wrong = await w.edge('POST', '/api/notes', { token: alice, body: '{"text":42}' })
  assert.equal(wrong.status, 400, wrong.text)
  assert.equal(w.appLog().length, before)
  const good = await w.edge('POST', '/api/notes', { token: alice, body: '{ "text" : "hi" }' })
  assert.equal(good.status, 200, good.text)
  assert.equal(last().body, '{"text":"hi"}')
})

test('undeclared routes and ambiguous paths never reach the app', async () => {
  const before = w.appLog().length
  const token = await w.identity.tokenFor('notes', { sub: 'alice' })
  const auth = ['authorization', `Bearer ${token}`]
  assert.equal((await w.direct('gateway', 'notes', 'GET', '/admin', { headers: auth })).status, 404)
  assert.equal((await w.direct('gateway', 'notes', 'POST', '/call/x', { headers: auth })).status, 404)
  for (const path of ['/call/..%2fnotes', '/call/%2e%2e/admin', '/call/a/../../admin', '/call/a%5cb']) {
    const res = await w.direct('gateway', 'notes', 'GET', path, { headers: auth })
    assert.equal(res.status, 400, `${path}: ${res.text}`)
  }
  assert.equal(w.appLog().length, before)
})

test('bodies over the limit are refused before the app, and an answer over the limit is cut', async () => {
  const before = w.appLog().length
  const token = await w.identity.tokenFor('notes', { sub: 'alice' })
  const big = JSON.stringify({ text: 'x'.repeat(5000) })
  const parsed = await w.direct('gateway', 'notes', 'POST', '/notes', { headers: ['authorization', `Bearer ${token}`, 'content-type', 'application/json'], body: big })
  assert.equal(parsed.status, 413)
  const wikiToken = await w.identity.tokenFor('wiki', { sub: 'alice' })
  const streamed = await w.direct('gateway', 'wiki', 'POST', '/upload', { headers: ['authorization', `Bearer ${wikiToken}`, 'content-type', 'application/octet-stream'], body: Buffer.alloc(1024 * 1024 + 1) })
  assert.equal(streamed.status, 413)
  // Chunked, no length announced: counted as it streams, refused past the limit.
  const chunks = Readable.from((function* () { for (let i = 0; i < 20; i++) yield Buffer.alloc(64 * 1024) })())
  const chunked = await w.direct('gateway', 'wiki', 'POST', '/upload', { headers: ['authorization', `Bearer ${wikiToken}`, 'content-type', 'application/octet-stream'], body: chunks })
    .catch((error: Error) => error)
  assert.ok(chunked instanceof Error || chunked.status === 413, `chunked: ${chunked instanceof Error ? chunked.message : chunked.status}`)
  assert.equal(w.appLog().length, before, 'no request over the limit reached the app whole')
  // The app's 64 KiB chunked answer against notes' 32 KiB limit: the client never gets it whole.
  const answer = await w.direct('gateway', 'notes', 'GET', '/big', { headers: ['authorization', `Bearer ${token}`] }).catch((error: Error) => error)
  assert.ok(answer instanceof Error || answer.text.length < 64 * 1024, 'the oversized answer was relayed whole')
  const announced = await w.direct('gateway', 'notes', 'GET', '/big?announced', { headers: ['authorization', `Bearer ${token}`] })
  assert.equal(announced.status, 502)
  assert.equal(announced.json.code, 'BW_SIDECAR_ANSWER_TOO_LARGE')
})

test('an app that does not answer is a 502 and fails readiness, one that answers too late a 504, both as problem+json', async () => {
  const slow = await w.direct('gateway', 'slow', 'GET', '/slow', { headers: ['authorization', `Bearer ${await w.identity.tokenFor('slow', { sub: 'alice' })}`] })
  assert.equal(slow.status, 504, slow.text)
  assert.equal(slow.json.code, 'BW_SIDECAR_APP_TIMEOUT')
  const gone = await w.direct('gateway', 'gone', 'GET', '/x', { headers: ['authorization', `Bearer ${await w.identity.tokenFor('gone', { sub: 'alice' })}`] })
  assert.equal(gone.status, 502, gone.text)
  assert.equal(gone.json.code, 'BW_SIDECAR_APP_UNAVAILABLE')
  assert.equal(gone.json.instance, gone.headers['x-request-id'])
  // Readiness says so before any request does: the `app` check fails while nothing listens on appPort.
  w.goneRt.health.setReady(true)
  w.notesRt.health.setReady(true)
  const notReady = await w.direct('gateway', 'gone', 'GET', '/readyz')
  assert.equal(notReady.status, 503)
  assert.equal(notReady.json.checks.app, false)
  assert.equal((await w.direct('gateway', 'notes', 'GET', '/readyz')).json.checks.app, true)
})

test('a route with auth optional forwards an anonymous caller without identity headers', async () => {
  const res = await w.direct('gateway', 'notes', 'GET', '/public')
  assert.equal(res.status, 200, res.text)
  const seen = last()
  assert.deepEqual(headerValues(seen, 'x-bulwark-subject'), [])
  assert.deepEqual(headerValues(seen, 'authorization'), [])
  assert.deepEqual(headerValues(seen, 'x-bulwark-caller'), ['gateway'])
})

test('without declared routes every path and method is forwarded as sent, with the verified identity', async () => {
  const res = await w.edge('GET', '/api/wiki/pages/1?rev=2', { token: alice })
  assert.equal(res.status, 200, res.text)
  assert.equal(last().path, '/wiki/pages/1?rev=2')
  assert.deepEqual(headerValues(last(), 'x-bulwark-subject'), ['alice'])
  const raw = await w.direct('gateway', 'wiki', 'GET', "/pages/a'b;c=d?q=%41'x|y", { headers: ['authorization', `Bearer ${await w.identity.tokenFor('wiki', { sub: 'alice' })}`] })
  assert.equal(raw.status, 200, raw.text)
  assert.equal(last().path, "/pages/a'b;c=d?q=%41'x|y", 'the path reaches the app byte for byte')
  const post = await w.edge('POST', '/api/wiki/pages', { token: alice, body: '{"title":"t"}' })
  assert.equal(post.status, 200, post.text)
  assert.equal(last().body, '{"title":"t"}')
})

test('the app calls another service through egress: the sidecar exchanges alice\'s token and policy allows notes to call ledger', async () => {
  const before = w.hits.ledger
  const res = await w.edge('GET', '/api/call/ledger/entries', { token: alice })
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json.status, 200, JSON.stringify(res.json))
  assert.deepEqual(res.json.body, { service: 'ledger', sub: 'alice', callerService: 'notes' })
  assert.equal(w.hits.ledger, before + 1)
})

test('egress to a service the policy does not let notes call is refused and never reaches it', async () => {
  const before = w.hits.billing
  const res = await w.edge('GET', '/api/call/billing/entries', { token: alice })
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json.status, 403, JSON.stringify(res.json))
  assert.match(JSON.stringify(res.json.body), /BW_PEER_IDENTITY/)
  assert.equal(w.hits.billing, before)
})

test('egress takes only a token the sidecar forwarded to the app, and never reaches the control plane', async () => {
  const before = w.hits.ledger
  const forLedger = await w.identity.tokenFor('ledger', { sub: 'alice', actor: w.id('notes') })
  for (const token of [alice, forLedger, 'not-a-token']) {
    const res = await w.edge('GET', `/api/call/ledger/entries?token=${encodeURIComponent(token)}`, { token: alice })
    assert.equal(res.status, 200, res.text)
    assert.equal(res.json.status, 401, JSON.stringify(res.json))
    assert.match(JSON.stringify(res.json.body), /BW_SIDECAR_EGRESS_TOKEN/)
  }
  assert.equal(w.hits.ledger, before)
  assert.ok(w.events(w.notesRt, 'token.rejected').some((e) => e.reason === 'BW_SIDECAR_EGRESS_TOKEN'))
  for (const target of ['identity', 'ca', 'notes', 'nosuch']) {
    const res = await w.edge('GET', `/api/call/${target}/oauth2/jwks`, { token: alice })
    assert.equal(res.json.status, 404, `${target}: ${JSON.stringify(res.json)}`)
  }
})
