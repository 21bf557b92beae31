import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AuditEventSchema, checkSchema } from '@bulwark/core'
import { X509Certificate, createHash } from 'node:crypto'
import * as client from 'openid-client'
import { SignJWT, decodeJwt, importJWK } from 'jose'
import { fetch } from 'undici'
import { createMtlsAgent, expectSpiffeId } from '@bulwark/core'
import { startHarness, createBrowser, browserLogin, type Harness } from './helpers.ts'

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const AT = 'urn:ietf:params:oauth:token-type:access_token'
let h: Harness
let aliceToken: string
const svc = (name: string) => `spiffe://bulwark.test/svc/${name}`

before(async () => {
  h = await startHarness()
  const rp = await h.rp('shop-cli')
  const verifier = client.randomPKCECodeVerifier()
  const redirect = 'http://127.0.0.1:50999/callback'
  const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirect, scope: 'openid orders:read orders:write payments:write', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
  const alice = h.demo.users.find((u) => u.username === 'alice')!
  const callback = await browserLogin(h, createBrowser(h.publicFetch), url.href, redirect, alice)
  aliceToken = (await client.authorizationCodeGrant(rp, new URL(callback), { pkceCodeVerifier: verifier })).access_token
})
after(async () => { await h?.close() })

async function exchange(caller: string, subject: string, audience: string, extra: Record<string, string> = {}) {
  const rp = await h.workloadRp(caller)
  return await client.genericGrantRequest(rp, EXCHANGE, { subject_token: subject, subject_token_type: AT, audience, ...extra })
}

const oauthError = (code: string) => (e: client.ResponseBodyError) => { assert.equal(e.error, code); return true }

test('a workload authenticates with its SVID (tls_client_auth) and gets a certificate-bound token', async () => {
  const rp = await h.workloadRp('orders')
  const tokens = await client.clientCredentialsGrant(rp, {})
  const claims = decodeJwt(tokens.access_token) as Record<string, any>
  assert.equal(claims.sub, 'svc-orders')
  assert.equal(claims.aud, svc('gateway'))
  assert.ok(claims.cnf?.['x5t#S256'], 'RFC 8705 confirmation claim')
  const forPayments = await client.clientCredentialsGrant(rp, { resource: svc('payments') })
  assert.equal(decodeJwt(forPayments.access_token).aud, svc('payments'))
  await assert.rejects(client.clientCredentialsGrant(rp, { resource: svc('users') }), oauthError('invalid_target'))
})

test('the bound thumbprint is the presenting workload certificate\'s (RFC 8705 §3.1)', async () => {
  const source = await h.ca.source('payments')
  const expected = createHash('sha256').update(new X509Certificate(source.current().certPem).raw).digest('base64url')
  const agent = createMtlsAgent(source, { verifyPeer: expectSpiffeId(svc('identity')) })
  try {
    const response = await fetch(`${h.url}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=svc-payments', dispatcher: agent } as never)
    const body = await response.json() as { access_token: string }
    assert.equal((decodeJwt(body.access_token) as any).cnf['x5t#S256'], expected)
  } finally {
    await agent.close()
  }
})

test('a certificate for another workload, or the gateway\'s certificate on proxied traffic, is not client authentication', async () => {
  const catalogFetch = await h.workloadFetch('catalog')
  const wrong = await catalogFetch(`${h.url}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=svc-orders' })
  assert.equal(wrong.status, 401)
  assert.equal((await wrong.json() as { error: string }).error, 'invalid_client')
  // Through the gateway (forwarded headers), the gateway's own SVID must not authenticate anyone.
  const proxied = await h.publicFetch(`${h.issuer}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=svc-gateway' })
  assert.equal(proxied.status, 401)
  // Forwarded headers from a peer that is not the gateway are ignored: orders still authenticates as itself.
  const ordersFetch = await h.workloadFetch('orders')
  const direct = await ordersFetch(`${h.url}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '203.0.113.9' }, body: 'grant_type=client_credentials&client_id=svc-orders' })
  assert.equal(direct.status, 200)
})

test('the gateway exchanges a user token for a short-lived token for one service, and orders exchanges it again for payments', async () => {
  const subject = decodeJwt(aliceToken)
  const first = await exchange('gateway', aliceToken, svc('orders'))
  assert.equal(first.issued_token_type, AT)
  const a = decodeJwt(first.access_token) as Record<string, any>
  assert.equal(a.aud, svc('orders'))
  assert.equal(a.sub, subject.sub)
  assert.equal(a.client_id, 'shop-cli')
  assert.deepEqual(a.roles, ['customer'])
  assert.equal(a.scope, subject.scope)
  assert.deepEqual(a.act, { sub: svc('gateway') })
  assert.deepEqual(a.amr, ['pwd'], 'the sign-in method travels with the exchanged token')
  assert.ok(a.exp <= subject.exp! && a.exp - a.iat <= 300)
  assert.ok(a.cnf?.['x5t#S256'])
  assert.notEqual(a.jti, subject.jti)

  const second = await exchange('orders', first.access_token, svc('payments'), { scope: 'payments:write' })
  const b = decodeJwt(second.access_token) as Record<string, any>
  assert.equal(b.aud, svc('payments'))
  assert.equal(b.scope, 'payments:write')
  assert.deepEqual(b.act, { sub: svc('orders'), act: { sub: svc('gateway') } })
  assert.deepEqual(b.amr, ['pwd'])
  assert.ok(h.audit.events.some((e) => e.type === 'token.exchanged'))
})

test('token exchange refuses callers, audiences, subjects and scopes outside policy', async () => {
  await assert.rejects(exchange('orders', (await exchange('gateway', aliceToken, svc('orders'))).access_token, svc('users')), oauthError('invalid_target'))
  await assert.rejects(exchange('catalog', aliceToken, svc('orders')), oauthError('unauthorized_client'))
  // A token addressed to orders cannot be exchanged by the gateway.
  const forOrders = (await exchange('gateway', aliceToken, svc('orders'))).access_token
  await assert.rejects(exchange('gateway', forOrders, svc('payments')), oauthError('invalid_grant'))
  await assert.rejects(exchange('gateway', aliceToken.slice(0, -4) + 'AAAA', svc('orders')), oauthError('invalid_grant'))
  await assert.rejects(exchange('gateway', aliceToken, svc('orders'), { scope: 'admin' }), oauthError('invalid_scope'))
  await assert.rejects(exchange('gateway', aliceToken, 'https://evil.example/'), oauthError('invalid_target'))
  const rp = await h.rp('shop-cli')
  await assert.rejects(client.genericGrantRequest(rp, EXCHANGE, { subject_token: aliceToken, subject_token_type: AT, audience: svc('orders') }), (e: client.ResponseBodyError) => ['unauthorized_client', 'invalid_request', 'invalid_client'].includes(e.error))
})

test('an exchanged token never outlives its subject token', async () => {
  const claims = decodeJwt(aliceToken)
  const now = Math.floor(Date.now() / 1000)
  const key = await importJWK((await h.identity.context.keys.jwks())[0] as never, 'ES256')
  const short = await new SignJWT({ ...claims, iat: now, exp: now + 20, jti: 'short-lived' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: (await h.identity.context.keys.currentKid())! }).sign(key)
  const result = decodeJwt((await exchange('gateway', short, svc('orders'))).access_token)
  assert.ok(result.exp! <= now + 20)
})

test('a disabled user\'s token cannot be exchanged', async () => {
  const bob = (await h.identity.context.users.byUsername('bob'))!
  const key = await importJWK((await h.identity.context.keys.jwks())[0] as never, 'ES256')
  const now = Math.floor(Date.now() / 1000)
  const token = await new SignJWT({ ...decodeJwt(aliceToken), sub: bob.id, iat: now, exp: now + 60, jti: 'bob-token' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: (await h.identity.context.keys.currentKid())! }).sign(key)
  assert.ok((await exchange('gateway', token, svc('orders'))).access_token)
  await h.identity.context.users.update(bob.id, { disabled: true })
  await assert.rejects(exchange('gateway', token, svc('orders')), oauthError('invalid_grant'))
  await h.identity.context.users.update(bob.id, { disabled: false })
})

test('revoking the subject makes its tokens unexchangeable', async () => {
  const operator = await h.operatorFetch()
  const response = await operator(`${h.url}/admin/v1/subjects/alice/revoke`, { method: 'POST' })
  assert.equal(response.status, 200)
  await assert.rejects(exchange('gateway', aliceToken, svc('orders')), oauthError('invalid_grant'))
})

test('every audit event emitted here is a valid audit event', () => {
  assert.ok(h.audit.events.length > 0)
  for (const event of h.audit.events) assert.deepEqual(checkSchema(AuditEventSchema, structuredClone(event)), [], JSON.stringify(event))
})
