import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose'
import { createManualClock, createSilentLogger } from '@bulwark/core'
import { createTestCa } from '@bulwark/testkit'
import { createAuthenticateStage } from '../src/pipeline/authenticate.ts'
import { createKeySet } from '@bulwark/sdk/service'
import { createRevocationList } from '../src/feeds/revocations.ts'
import { makeCtx, makeReq, outcome, routeOf } from './helpers-unit.ts'

const ISSUER = 'https://localhost:8443'

async function setup() {
  const clock = createManualClock(Date.UTC(2026, 0, 1))
  const es = await generateKeyPair('ES256', { extractable: true })
  const jwks: { keys: JWK[] } = { keys: [{ ...await exportJWK(es.publicKey), kid: 'e1', alg: 'ES256', use: 'sig' }] }
  let fetches = 0
  let failing = false
  const keys = createKeySet({
    clock, log: createSilentLogger(), refetchIntervalMs: 10_000, maxAgeMs: 300_000,
    async fetchJwks() { fetches++; if (failing) throw new Error('down'); return structuredClone(jwks) },
  })
  const revocations = createRevocationList({ now: () => clock.now() })
  const stage = createAuthenticateStage({ keys, issuer: ISSUER, audiences: [ISSUER], algorithms: ['ES256', 'RS256'], clockSkewSeconds: 5, maxTokenBytes: 4096, cacheSize: 100, clock, revocations })
  let key = es.privateKey
  let kid = 'e1'
  const sign = (claims: JWTPayload = {}, header: Record<string, unknown> = {}) => {
    const now = Math.floor(clock.now() / 1000)
    return new SignJWT({ iss: ISSUER, aud: ISSUER, sub: 'alice', client_id: 'shop-cli', iat: now, exp: now + 300, scope: 'openid orders', roles: ['customer'], ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid, ...header }).sign(key)
  }
  const run = async (token: string, extra: Parameters<typeof makeReq>[0] = {}) => {
    const ctx = makeCtx({ route: routeOf({}) })
    const code = await outcome(() => stage.run(makeReq({ headers: { authorization: `Bearer ${token}` }, ...extra }), ctx))
    return { code, ctx }
  }
  return {
    clock, stage, keys, revocations, sign, run, jwks,
    get fetches() { return fetches },
    set failing(v: boolean) { failing = v },
    async rotate(nextKid: string) {
      const next = await generateKeyPair('ES256', { extractable: true })
      jwks.keys.push({ ...await exportJWK(next.publicKey), kid: nextKid, alg: 'ES256', use: 'sig' })
      key = next.privateKey
      kid = nextKid
    },
  }
}

test('accepts a valid access token and builds the principal', async () => {
  const s = await setup()
  const { code, ctx } = await s.run(await s.sign())
  assert.equal(code, 'ok')
  assert.equal(ctx.principal?.subject, 'alice')
  assert.equal(ctx.principal?.kind, 'user')
  assert.deepEqual(ctx.principal?.scopes, ['openid', 'orders'])
  assert.deepEqual(ctx.principal?.roles, ['customer'])
})

test('a client-credentials token (sub = client_id) is a client principal', async () => {
  const s = await setup()
  const { ctx } = await s.run(await s.sign({ sub: 'reporting-job', client_id: 'reporting-job' }))
  assert.equal(ctx.principal?.kind, 'client')
})

test('verifies a token once, then serves it from the bounded cache until it expires', async () => {
  const s = await setup()
  const token = await s.sign()
  await s.run(token)
  const fetchesAfterFirst = s.fetches
  s.jwks.keys.length = 0 // even with the keys gone, the cached verification stands
  assert.equal((await s.run(token)).code, 'ok')
  assert.equal(s.fetches, fetchesAfterFirst)
  s.clock.advance(306_000)
  assert.equal((await s.run(token)).code, 'BW_AUTHN_TOKEN_EXPIRED')
})

test('skew: a token expired by less than the skew still passes, by more does not', async () => {
  const s = await setup()
  const now = Math.floor(s.clock.now() / 1000)
  assert.equal((await s.run(await s.sign({ exp: now - 3 }))).code, 'ok')
  assert.equal((await s.run(await s.sign({ exp: now - 30 }))).code, 'BW_AUTHN_TOKEN_EXPIRED')
  assert.equal((await s.run(await s.sign({ nbf: now + 3 }))).code, 'ok')
  assert.equal((await s.run(await s.sign({ nbf: now + 30 }))).code, 'BW_AUTHN_TOKEN_NOT_YET_VALID')
})

test('an unknown kid refetches the JWKS at most once per interval', async () => {
  const s = await setup()
  await s.run(await s.sign())
  const base = s.fetches
  for (let i = 0; i < 10; i++) assert.equal((await s.run(await s.sign({}, { kid: `rnd${i}` }))).code, 'BW_AUTHN_TOKEN_INVALID')
  assert.equal(s.fetches - base, 0, 'first fetch was just now: inside the interval')
  s.clock.advance(10_001)
  for (let i = 0; i < 10; i++) await s.run(await s.sign({}, { kid: `rnd-b${i}` }))
  assert.equal(s.fetches - base, 1)
})

test('picks up a rotated signing key once the interval allows a refetch', async () => {
  const s = await setup()
  await s.run(await s.sign())
  await s.rotate('e2')
  s.clock.advance(10_001)
  assert.equal((await s.run(await s.sign())).code, 'ok')
})

test('keeps the previous keys when a refresh fails, and fails closed (503) with no keys at all', async () => {
  const s = await setup()
  await s.run(await s.sign())
  s.failing = true
  s.clock.advance(400_000)
  assert.equal((await s.run(await s.sign())).code, 'ok')
  const fresh = await setup()
  fresh.failing = true
  assert.equal((await fresh.run(await fresh.sign())).code, 'BW_AUTHN_KEYS_UNAVAILABLE')
})

test('revoked subjects, clients and token ids are refused even from the cache', async () => {
  const s = await setup()
  const token = await s.sign({ jti: 'j1' })
  assert.equal((await s.run(token)).code, 'ok')
  s.revocations.apply([{ kind: 'jti', value: 'j1', revokedAt: s.clock.now() }])
  assert.equal((await s.run(token)).code, 'BW_AUTHN_TOKEN_REVOKED')
  const bob = await s.sign({ sub: 'bob' })
  s.revocations.apply([{ kind: 'subject', value: 'bob', revokedAt: new Date(s.clock.now()).toISOString() }])
  assert.equal((await s.run(bob)).code, 'BW_AUTHN_TOKEN_REVOKED')
  s.clock.advance(2000)
  assert.equal((await s.run(await s.sign({ sub: 'bob' }))).code, 'ok', 'a token issued after the revocation is fine')
  s.revocations.apply([{ kind: 'client', value: 'shop-cli', revokedAt: s.clock.now() }])
  assert.equal((await s.run(await s.sign({ sub: 'carol' }))).code, 'BW_AUTHN_TOKEN_REVOKED')
})

test('a certificate-bound token passes only with its certificate (RFC 8705)', async () => {
  const s = await setup()
  const ca = await createTestCa()
  const cert = new (await import('node:crypto')).X509Certificate((await ca.issue('client')).certPem)
  const other = new (await import('node:crypto')).X509Certificate((await ca.issue('other')).certPem)
  const token = await s.sign({ cnf: { 'x5t#S256': createHash('sha256').update(cert.raw).digest('base64url') } })
  assert.equal((await s.run(token, { clientCertificate: cert.raw })).code, 'ok')
  assert.equal((await s.run(token, { clientCertificate: other.raw })).code, 'BW_AUTHN_TOKEN_CERT_BINDING')
  assert.equal((await s.run(token)).code, 'BW_AUTHN_TOKEN_CERT_BINDING')
})

test('public routes skip authentication', async () => {
  const s = await setup()
  const ctx = makeCtx({ route: routeOf({ public: true }) })
  await s.stage.run(makeReq({ headers: { authorization: 'Bearer garbage' } }), ctx)
  assert.equal(ctx.principal, undefined)
  assert.equal(ctx.token, undefined)
})

test('two Authorization headers are refused', async () => {
  const s = await setup()
  const token = await s.sign()
  assert.equal(await outcome(() => s.stage.run(makeReq({ headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] } }), makeCtx({ route: routeOf({}) }))), 'BW_AUTHN_TOKEN_MALFORMED')
})

test('optional-auth routes let a request without a token through as anonymous, verify one that is sent, and refuse a bad one', async () => {
  const s = await setup()
  const anonymous = makeCtx({ route: routeOf({ optionalAuth: true }) })
  await s.stage.run(makeReq({ headers: {} }), anonymous)
  assert.equal(anonymous.principal, undefined)
  const signedIn = makeCtx({ route: routeOf({ optionalAuth: true }) })
  await s.stage.run(makeReq({ headers: { authorization: `Bearer ${await s.sign()}` } }), signedIn)
  assert.equal(signedIn.principal?.subject, 'alice')
  assert.equal(await outcome(() => s.stage.run(makeReq({ headers: { authorization: 'Bearer garbage' } }), makeCtx({ route: routeOf({ optionalAuth: true }) }))), 'BW_AUTHN_TOKEN_MALFORMED')
  assert.equal(await outcome(() => s.stage.run(makeReq({ headers: {} }), makeCtx({ route: routeOf({}) }))), 'BW_AUTHN_TOKEN_MISSING')
})
