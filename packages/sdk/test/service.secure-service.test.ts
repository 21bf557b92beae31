// createSecureService over real mTLS with testkit SVIDs, a real jose-signed
// token issuer (service-support/fake-identity.ts) and the platform's default
// Cedar policies evaluated in-process.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request, type Agent } from 'undici'
import { SignJWT, generateKeyPair } from 'jose'
import { createManualClock, serviceSpiffeId } from '@bulwark/core'
import { createTestCa, tempDir, type TestCa } from '@bulwark/testkit'
import { createSecureService, entity, ref, type SecureService } from '../src/service/index.ts'
import { createTestRuntime, listen, mtlsClient, startFakeIdentity, testAuthorizer, type FakeIdentity, type TestRuntime } from './service-support/index.ts'

const EXTRA = `
permit (principal is Service, action == Action::"call", resource is Endpoint) when { principal.name == "gateway" && resource.service == "notes" };
permit (principal is User, action == Action::"notes.read", resource is Note) when { resource.owner == principal };
permit (principal, action == Action::"notes.list", resource);
`
const PUBLIC = 'https://localhost:8443'
let ca: TestCa
let identity: FakeIdentity
let rt: TestRuntime
let app: SecureService
let url: string
let gateway: Agent
let intruder: Agent
const clock = createManualClock(Date.now())
const home = tempDir()

before(async () => {
  ca = await createTestCa()
  identity = await startFakeIdentity({ source: await ca.source('identity'), trustDomain: ca.trustDomain, issuer: PUBLIC, clock })
  rt = await createTestRuntime({ ca, name: 'notes', home: home.path, publicUrl: PUBLIC, peers: { identity: identity.url }, clock })
  app = await createSecureService(rt, { authorizer: testAuthorizer(EXTRA, false) })
  app.get('/notes', { config: { auth: 'optional' } }, async (req) => ({ who: req.auth.authenticated ? req.auth.sub : 'anonymous' }))
  app.get<{ Params: { id: string } }>('/notes/:id', async (req) => {
    const owner = req.params.id === 'n1' ? 'alice' : undefined
    req.authorize('notes.read', { type: 'Note', id: req.params.id }, { entities: owner ? [entity('Note', 'n1', { owner: ref('User', owner) })] : [], denyAs: 'not-found' })
    return { id: req.params.id, auth: req.auth }
  })
  app.patch('/notes/:id', {
    schema: { body: { type: 'object', properties: { text: { type: 'string', maxLength: 10 } }, additionalProperties: false } },
  }, async (req) => req.body)
  url = await listen(app)
  gateway = await mtlsClient(ca, 'gateway', 'notes')
  intruder = await mtlsClient(ca, 'orders', 'notes')
})

after(async () => {
  await app.close()
  await identity.close()
  await rt.closeAgents()
  await gateway.close()
  await intruder.close()
  home.remove()
})

async function call(path: string, options: { token?: string; agent?: Agent; method?: 'GET' | 'PATCH'; body?: unknown } = {}) {
  const response = await request(`${url}${path}`, {
    method: options.method ?? 'GET', dispatcher: options.agent ?? gateway,
    headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...(options.body ? { 'content-type': 'application/json' } : {}) },
    body: options.body ? JSON.stringify(options.body) : undefined,
  })
  return { status: response.statusCode, body: await response.body.json() as Record<string, any> }
}

test('accepts a token exchanged for this service and exposes the caller', async () => {
  const token = await identity.tokenFor('notes', { sub: 'alice', roles: ['customer'], scope: 'openid orders:read', amr: ['pwd', 'otp'] })
  const res = await call('/notes/n1', { token })
  assert.equal(res.status, 200)
  assert.equal(res.body.auth.sub, 'alice')
  assert.deepEqual(res.body.auth.roles, ['customer'])
  assert.deepEqual(res.body.auth.scopes, ['openid', 'orders:read'])
  assert.equal(res.body.auth.mfa, true)
  assert.equal(res.body.auth.callerService, 'gateway')
  assert.deepEqual(res.body.auth.act, { sub: serviceSpiffeId(ca.trustDomain, 'gateway') })
})

const rejects: Array<[string, () => Promise<string | undefined>, string]> = [
  ['no token at all', async () => undefined, 'BW_AUTHN_TOKEN_MISSING'],
  ['a token for another service (audience = orders)', () => identity.tokenFor('orders', { sub: 'alice' }), 'BW_AUTHN_TOKEN_AUDIENCE'],
  ['the user-facing token (audience = the issuer)', () => identity.userToken({ sub: 'alice' }), 'BW_AUTHN_TOKEN_AUDIENCE'],
  ['a token signed by another key', async () => {
    const { privateKey } = await generateKeyPair('ES256')
    const iat = Math.floor(clock.now() / 1000)
    return await new SignJWT({ iss: PUBLIC, aud: serviceSpiffeId(ca.trustDomain, 'notes'), sub: 'alice', iat, exp: iat + 60, act: { sub: serviceSpiffeId(ca.trustDomain, 'gateway') } })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' }).sign(privateKey)
  }, 'BW_AUTHN_TOKEN_INVALID'],
  ['alg none', async () => {
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const iat = Math.floor(clock.now() / 1000)
    return `${enc({ alg: 'none', typ: 'at+jwt' })}.${enc({ iss: PUBLIC, aud: serviceSpiffeId(ca.trustDomain, 'notes'), sub: 'admin', iat, exp: iat + 60 })}.`
  }, 'BW_AUTHN_TOKEN_INVALID'],
  ['an id token (typ JWT, not at+jwt)', async () => {
    const iat = Math.floor(clock.now() / 1000)
    return await identity.sign({ iss: PUBLIC, aud: serviceSpiffeId(ca.trustDomain, 'notes'), sub: 'alice', iat, exp: iat + 60, act: { sub: serviceSpiffeId(ca.trustDomain, 'gateway') } }, { typ: 'JWT' })
  }, 'BW_AUTHN_TOKEN_TYPE'],
  ['another issuer', async () => {
    const iat = Math.floor(clock.now() / 1000)
    return await identity.sign({ iss: 'https://evil.example', aud: serviceSpiffeId(ca.trustDomain, 'notes'), sub: 'alice', iat, exp: iat + 60, act: { sub: serviceSpiffeId(ca.trustDomain, 'gateway') } })
  }, 'BW_AUTHN_TOKEN_INVALID'],
  ['a token whose act names another workload than the mTLS peer', () => identity.tokenFor('notes', { sub: 'alice', actor: serviceSpiffeId(ca.trustDomain, 'orders') }), 'BW_AUTHN_TOKEN_ACTOR'],
  ['garbage', async () => 'not.a.jwt', 'BW_AUTHN_TOKEN_INVALID'],
]
for (const [name, make, code] of rejects) {
  test(`refuses ${name} with 401 ${code} and audits it`, async () => {
    const before = rt.audit.events.length
    const res = await call('/notes/n1', { token: await make() })
    assert.equal(res.status, 401)
    assert.equal(res.body.code, code)
    const event = rt.audit.events.slice(before).find((e) => e.type === 'token.rejected')
    assert.equal(event?.reason, code)
  })
}

test('refuses an expired token (clock moved past exp)', async () => {
  const token = await identity.tokenFor('notes', { sub: 'alice', ttlSeconds: 60 })
  assert.equal((await call('/notes/n1', { token })).status, 200)
  clock.advance(120_000)
  try {
    const res = await call('/notes/n1', { token })
    assert.equal(res.status, 401)
    assert.equal(res.body.code, 'BW_AUTHN_TOKEN_EXPIRED')
  } finally {
    clock.advance(-120_000)
  }
})

test('refuses a peer that policy does not let call this service, before looking at the token', async () => {
  const token = await identity.tokenFor('notes', { sub: 'alice', actor: serviceSpiffeId(ca.trustDomain, 'orders') })
  const before = rt.audit.events.length
  const res = await call('/notes/n1', { token, agent: intruder })
  assert.equal(res.status, 403)
  assert.equal(res.body.code, 'BW_PEER_IDENTITY')
  const event = rt.audit.events.slice(before).find((e) => e.type === 'authz.denied')
  assert.equal(event?.actor.spiffeId, serviceSpiffeId(ca.trustDomain, 'orders'))
  assert.equal(event?.resource, 'notes:GET /notes/:id')
})

test('object-level check is policy: the owner reads, anyone else gets 404 and an audit event', async () => {
  const bob = await identity.tokenFor('notes', { sub: 'bob' })
  const before = rt.audit.events.length
  const res = await call('/notes/n1', { token: bob })
  assert.equal(res.status, 404)
  assert.equal(res.body.code, 'BW_NOT_FOUND')
  const event = rt.audit.events.slice(before).find((e) => e.type === 'authz.denied')
  assert.equal(event?.actor.id, 'bob')
  assert.equal(event?.action, 'notes.read')
  // A note that does not exist looks the same as one that is not yours.
  assert.equal((await call('/notes/n2', { token: bob })).status, 404)
})

test('optional-auth routes serve anonymous callers but still verify a token when one is sent', async () => {
  assert.deepEqual((await call('/notes')).body, { who: 'anonymous' })
  const token = await identity.tokenFor('notes', { sub: 'carol' })
  assert.deepEqual((await call('/notes', { token })).body, { who: 'carol' })
  assert.equal((await call('/notes', { token: 'forged' })).status, 401)
  // Anonymous or not, the mTLS peer must still be allowed.
  assert.equal((await call('/notes', { agent: intruder })).status, 403)
})

test('unknown body fields are a 400, never silently dropped (mass assignment)', async () => {
  const token = await identity.tokenFor('notes', { sub: 'alice' })
  const ok = await call('/notes/n1', { token, method: 'PATCH', body: { text: 'hi' } })
  assert.equal(ok.status, 200)
  const res = await call('/notes/n1', { token, method: 'PATCH', body: { text: 'hi', owner: 'mallory' } })
  assert.equal(res.status, 400)
  assert.equal(res.body.code, 'BW_VALIDATION_FAILED')
  assert.equal(res.body.errors[0].path, '/owner')
  assert.equal((await call('/notes/n1', { token, method: 'PATCH', body: { text: 5 } })).status, 400)
})

test('bodies over the size limit are refused with 413 (API4:2023)', async () => {
  const token = await identity.tokenFor('notes', { sub: 'alice' })
  const res = await call('/notes/n1', { token, method: 'PATCH', body: { text: 'x'.repeat(70 * 1024) } })
  assert.equal(res.status, 413)
  assert.equal(res.body.code, 'BW_PAYLOAD_TOO_LARGE')
})

test('honours the revocation feed: a revoked subject and a revoked jti are refused', async () => {
  const old = await identity.tokenFor('notes', { sub: 'dave' })
  const other = await identity.tokenFor('notes', { sub: 'erin', jti: 'jti-erin-1' })
  assert.equal((await call('/notes', { token: old })).status, 200)
  identity.revoke('subject', 'dave')
  identity.revoke('jti', 'jti-erin-1')
  let status = 200
  for (let i = 0; i < 50 && status === 200; i++) {
    status = (await call('/notes', { token: old })).status
    if (status === 200) await new Promise((r) => setTimeout(r, 20))
  }
  assert.equal(status, 401)
  const res = await call('/notes', { token: other })
  assert.equal(res.body.code, 'BW_AUTHN_TOKEN_REVOKED')
  // A token issued after the revocation is good again.
  clock.advance(2000)
  const fresh = await identity.tokenFor('notes', { sub: 'dave' })
  assert.equal((await call('/notes', { token: fresh })).status, 200)
})

test('health probes need no token', async () => {
  rt.health.setReady(true)
  const response = await request(`${url}/healthz`, { dispatcher: intruder })
  assert.equal(response.statusCode, 200)
  await response.body.dump()
})
