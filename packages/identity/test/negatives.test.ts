import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AuditEventSchema, checkSchema } from '@bulwark/core'
import * as client from 'openid-client'
import { SignJWT, importJWK, generateKeyPair, decodeJwt } from 'jose'
import { Readable } from 'node:stream'
import { createMtlsAgent, expectSpiffeId } from '@bulwark/core'
import { startHarness, createBrowser, type Harness } from './helpers.ts'

let h: Harness
before(async () => { h = await startHarness() })
after(async () => { await h?.close() })

const job = () => h.demo.clients.find((c) => c.clientId === 'reporting-job')!

async function authorize(params: Record<string, string>) {
  const url = new URL(`${h.issuer}/oauth2/authorize`)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  const response = await createBrowser(h.publicFetch).request(url.href)
  return { status: response.status, location: response.headers.get('location'), body: await response.text() }
}

async function token(form: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await h.publicFetch(`${h.issuer}/oauth2/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString(),
  })
  return { status: response.status, body: await response.json() as Record<string, unknown> }
}

const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}` })
const base = { client_id: 'shop-cli', response_type: 'code', scope: 'openid', redirect_uri: 'http://127.0.0.1:1234/callback', state: 's1' }
const challenge = 'E9Melhoa2OwvFrEMTJguCQaoWAeIkgyD2ggUnh9Jw5ezYk'.slice(0, 43)

test('authorization requests without PKCE, with plain PKCE, or asking for implicit are refused', async () => {
  const missing = await authorize(base)
  assert.equal(new URL(missing.location!).searchParams.get('error'), 'invalid_request')
  const plain = await authorize({ ...base, code_challenge: challenge, code_challenge_method: 'plain' })
  assert.equal(new URL(plain.location!).searchParams.get('error'), 'invalid_request')
  const implicit = await authorize({ ...base, response_type: 'token', code_challenge: challenge, code_challenge_method: 'S256' })
  const where = new URL(implicit.location!)
  assert.equal(new URLSearchParams(where.hash.slice(1) || where.search).get('error'), 'unsupported_response_type')
})

test('redirect URIs must match exactly (loopback port aside) and unknown clients get no redirect', async () => {
  for (const redirect of ['http://127.0.0.1:1234/other', 'http://localhost:1234/callback', 'https://127.0.0.1/callback', 'http://evil.example/callback', 'http://127.0.0.1:1234/callback/../x']) {
    const result = await authorize({ ...base, redirect_uri: redirect, code_challenge: challenge, code_challenge_method: 'S256' })
    assert.equal(result.status, 400, redirect)
    assert.equal(result.location, null)
  }
  const unknown = await authorize({ ...base, client_id: 'nobody', code_challenge: challenge, code_challenge_method: 'S256' })
  assert.equal(unknown.status, 400)
  assert.equal(unknown.location, null)
})

test('the token endpoint refuses the password grant, wrong secrets, unknown clients and malformed or oversized bodies', async () => {
  const password = await token({ grant_type: 'password', username: 'alice', password: 'x' }, basic('reporting-job', job().clientSecret!))
  assert.equal(password.body.error, 'unsupported_grant_type')
  const wrong = await token({ grant_type: 'client_credentials' }, basic('reporting-job', 'not-the-secret'))
  assert.equal(wrong.status, 401)
  assert.equal(wrong.body.error, 'invalid_client')
  const unknown = await token({ grant_type: 'client_credentials' }, basic('ghost', 'whatever'))
  assert.equal(unknown.body.error, 'invalid_client')
  const scope = await token({ grant_type: 'client_credentials', scope: 'orders:write' }, basic('reporting-job', job().clientSecret!))
  assert.equal(scope.body.error, 'invalid_scope')
  const malformed = await h.publicFetch(`${h.issuer}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/json', ...basic('reporting-job', job().clientSecret!) }, body: '{"grant_type":' })
  assert.equal(malformed.status, 400)
  const huge = await token({ grant_type: 'client_credentials', scope: 'a'.repeat(200_000) }, basic('reporting-job', job().clientSecret!))
  assert.ok(huge.status === 400 || huge.status === 413, String(huge.status))
  assert.ok(h.audit.events.some((e) => e.type === 'token.denied' && e.reason === 'invalid_client'))
})

test('a confidential client gets a client-credentials JWT; introspection needs client auth and rejects forged and expired tokens', async () => {
  const rp = await h.rp('reporting-job', client.ClientSecretBasic(job().clientSecret!))
  const tokens = await client.clientCredentialsGrant(rp, { scope: 'orders:read:all' })
  const claims = decodeJwt(tokens.access_token)
  assert.equal(claims.sub, 'reporting-job')
  assert.equal(claims.scope, 'orders:read:all')
  const live = await client.tokenIntrospection(rp, tokens.access_token)
  assert.equal(live.active, true)
  assert.equal(live.client_id, 'reporting-job')

  const anonymous = await h.publicFetch(`${h.issuer}/oauth2/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${tokens.access_token}` })
  assert.ok(anonymous.status === 400 || anonymous.status === 401)

  // Forged: right kid and claims, wrong key.
  const { privateKey } = await generateKeyPair('ES256')
  const header = { alg: 'ES256', typ: 'at+jwt', kid: (await h.identity.context.keys.currentKid())! }
  const forged = await new SignJWT({ ...claims }).setProtectedHeader(header).sign(privateKey)
  assert.equal((await client.tokenIntrospection(rp, forged)).active, false)
  // Expired: our own key, exp in the past.
  const current = (await h.identity.context.keys.jwks())[0]!
  const expired = await new SignJWT({ ...claims, iat: claims.iat! - 900, exp: claims.iat! - 600 }).setProtectedHeader(header).sign(await importJWK(current as never, 'ES256'))
  assert.equal((await client.tokenIntrospection(rp, expired)).active, false)
  assert.equal((await client.tokenIntrospection(rp, 'garbage')).active, false)

  // Revocation (RFC 7009) kills the JWT: introspection says inactive and the feed carries its jti.
  await client.tokenRevocation(rp, tokens.access_token)
  assert.equal((await client.tokenIntrospection(rp, tokens.access_token)).active, false)
  assert.ok((await h.identity.context.revocations.after(0)).entries.some((e) => e.kind === 'jti' && e.value === claims.jti))
  assert.ok(h.audit.events.some((e) => e.type === 'token.revoked'))
})

test('discovery advertises the OAuth 2.1 profile only', async () => {
  const meta = await (await h.publicFetch(`${h.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>
  assert.equal(meta.issuer, h.issuer)
  assert.deepEqual(meta.response_types_supported, ['code'])
  assert.deepEqual(meta.code_challenge_methods_supported, ['S256'])
  assert.equal(meta.authorization_response_iss_parameter_supported, true)
  const grants = meta.grant_types_supported as string[]
  assert.ok(!grants.includes('password') && !grants.includes('implicit'))
  for (const g of ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange']) assert.ok(grants.includes(g), g)
  assert.equal(meta.token_endpoint, `${h.issuer}/oauth2/token`)
  assert.equal(meta.jwks_uri, `${h.issuer}/oauth2/jwks`)
  assert.equal(meta.end_session_endpoint, `${h.issuer}/oauth2/logout`)
  assert.equal(meta.tls_client_certificate_bound_access_tokens, true)
  const rfc8414 = await (await h.publicFetch(`${h.issuer}/.well-known/oauth-authorization-server`)).json() as Record<string, unknown>
  assert.equal(rfc8414.issuer, h.issuer)
  assert.equal(rfc8414.token_endpoint, meta.token_endpoint)
})

test('an oversized body answered early does not poison the kept-alive connection', async () => {
  const agent = createMtlsAgent(await h.ca.source('gateway'), { verifyPeer: expectSpiffeId('spiffe://bulwark.test/svc/identity'), connections: 1 })
  try {
    for (let i = 0; i < 2; i++) {
      const big = await agent.request({ origin: h.url, path: '/oauth2/token', method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '192.0.2.1' }, body: Readable.from([Buffer.from(`scope=${'a'.repeat(2_000_000)}`)]), headersTimeout: 5000 })
      assert.equal(big.statusCode, 400)
      await big.body.dump()
      const small = await agent.request({ origin: h.url, path: '/.well-known/openid-configuration', method: 'GET', headersTimeout: 5000 })
      assert.equal(small.statusCode, 200)
      await small.body.dump()
    }
  } finally {
    await agent.close()
  }
})

test('every audit event emitted here is a valid audit event', () => {
  assert.ok(h.audit.events.length > 0)
  for (const event of h.audit.events) assert.deepEqual(checkSchema(AuditEventSchema, structuredClone(event)), [], JSON.stringify(event))
})
