// Test fixture: every password, secret and token in this file is a made-up test value.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AuditEventSchema, checkSchema } from '@bulwark/core'
import * as client from 'openid-client'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { generate } from 'otplib'
import { startHarness, createBrowser, browserLogin, hiddenField, formAction, type Harness } from './helpers.ts'

let h: Harness
before(async () => { h = await startHarness() })
after(async () => { await h?.close() })

const user = (name: string) => h.demo.users.find((u) => u.username === name)!

async function login(name: string, scope = 'openid offline_access profile orders:read', port = 50123) {
  const rp = await h.rp('shop-cli')
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const redirect = `http://127.0.0.1:${port}/callback`
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: redirect, scope, state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  })
  const browser = createBrowser(h.publicFetch)
  const u = user(name)
  const callback = await browserLogin(h, browser, url.href, redirect, u,
    async () => generate({ secret: u.totpSecret!, epoch: Math.floor(h.clock.now() / 1000) }))
  const tokens = await client.authorizationCodeGrant(rp, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state })
  return { rp, tokens, browser, callback, redirect }
}

test('a public PKCE client logs a user in and gets an RFC 9068 access token, an ID token and a refresh token', async () => {
  const { tokens, callback } = await login('alice')
  assert.equal(new URL(callback).searchParams.get('iss'), h.issuer, 'RFC 9207 iss parameter')
  const header = decodeProtectedHeader(tokens.access_token)
  assert.equal(header.typ, 'at+jwt')
  assert.equal(header.alg, 'ES256')
  const at = decodeJwt(tokens.access_token)
  const alice = (await h.identity.context.users.byUsername('alice'))!
  assert.equal(at.iss, h.issuer)
  assert.equal(at.sub, alice.id)
  assert.equal(at.aud, 'spiffe://bulwark.test/svc/gateway')
  assert.equal(at.client_id, 'shop-cli')
  assert.deepEqual(at.roles, ['customer'])
  assert.deepEqual(at.amr, ['pwd'], 'how the user signed in (RFC 9068 §2.2.1)')
  assert.equal(at.acr, undefined)
  assert.equal(typeof at.jti, 'string')
  assert.equal(at.exp! - at.iat!, 300)
  assert.deepEqual(String(at.scope).split(' ').sort(), ['orders:read'])
  const id = tokens.claims()!
  assert.equal(id.sub, alice.id)
  assert.equal(id.aud, 'shop-cli')
  assert.equal(id.preferred_username, 'alice')
  assert.ok(tokens.refresh_token)
  assert.ok(h.audit.events.some((e) => e.type === 'login.succeeded' && e.actor.id === alice.id))
  assert.ok(h.audit.events.some((e) => e.type === 'token.issued' && e.details?.grantType === 'authorization_code'))
})

test('any loopback port is accepted for the native client redirect (RFC 8252)', async () => {
  const { tokens } = await login('bob', 'openid', 61999)
  assert.ok(tokens.access_token)
})

test('refresh tokens rotate, and reusing an old one revokes the whole family', async () => {
  const { rp, tokens } = await login('alice')
  const first = tokens.refresh_token!
  const second = await client.refreshTokenGrant(rp, first)
  assert.ok(second.refresh_token && second.refresh_token !== first)
  assert.deepEqual(decodeJwt(second.access_token).amr, ['pwd'], 'a refreshed access token keeps the sign-in method')
  const jti = String(decodeJwt(second.access_token).jti)
  await assert.rejects(client.refreshTokenGrant(rp, first), (e: client.ResponseBodyError) => e.error === 'invalid_grant')
  await assert.rejects(client.refreshTokenGrant(rp, second.refresh_token!), (e: client.ResponseBodyError) => e.error === 'invalid_grant')
  assert.ok(h.audit.events.some((e) => e.type === 'token.reused'))
  assert.ok(h.audit.events.some((e) => e.type === 'token.refreshed'))
  const feed = await h.identity.context.revocations.after(0)
  assert.ok(feed.entries.some((e) => e.kind === 'jti' && e.value === jti), 'access token of the revoked family is published')
})

test('an admin must pass TOTP, and a code cannot be replayed', async () => {
  const { tokens } = await login('admin', 'openid')
  const at = decodeJwt(tokens.access_token)
  assert.deepEqual(at.roles, ['admin'])
  assert.deepEqual(at.amr, ['pwd', 'otp'], 'the second factor shows in the access token')
  assert.equal(at.acr, 'urn:bulwark:mfa')
  assert.ok(h.audit.events.some((e) => e.type === 'mfa.succeeded'))
  // Same code again in a fresh login: refused as a replay.
  const rp = await h.rp('shop-cli')
  const redirect = 'http://127.0.0.1:50200/callback'
  const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirect, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' })
  const browser = createBrowser(h.publicFetch)
  let page = await browser.follow(url.href, redirect)
  const u = user('admin')
  page = await browser.follow(formAction(page.body, h.issuer), redirect, { form: { csrf: hiddenField(page.body, 'csrf'), username: 'admin', password: u.password } })
  assert.match(page.body, /name="otp"/)
  assert.match(page.body, /<label for="otp">/)
  const code = await generate({ secret: u.totpSecret!, epoch: Math.floor(h.clock.now() / 1000) })
  const replay = await browser.follow(formAction(page.body, h.issuer), redirect, { form: { csrf: hiddenField(page.body, 'csrf'), otp: code } })
  assert.equal(replay.response.status, 401)
  assert.match(replay.body, /not valid/)
  assert.ok(h.audit.events.some((e) => e.type === 'mfa.failed' && e.reason === 'replayed_code'))
})

test('login pages are plain forms: labels, CSRF field, no script, strict CSP', async () => {
  const rp = await h.rp('shop-cli')
  const redirect = 'http://127.0.0.1:50300/callback'
  const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirect, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' })
  const browser = createBrowser(h.publicFetch)
  const page = await browser.follow(url.href, redirect)
  assert.equal(page.response.status, 200)
  assert.match(page.body, /<form method="post"/)
  assert.match(page.body, /<label for="username">/)
  assert.match(page.body, /<label for="password">/)
  assert.match(page.body, /type="hidden" name="csrf"/)
  assert.doesNotMatch(page.body, /<script|onclick|onfocus|style=/i)
  assert.match(page.response.headers.get('content-security-policy')!, /default-src 'none'/)
  // A POST without the right CSRF token changes nothing.
  const bad = await browser.request(formAction(page.body, h.issuer), { form: { csrf: 'x'.repeat(43), username: 'alice', password: user('alice').password } })
  assert.equal(bad.status, 403)
})

test('a replayed authorization code is refused and revokes what it issued', async () => {
  const rp = await h.rp('shop-cli')
  const verifier = client.randomPKCECodeVerifier()
  const redirect = 'http://127.0.0.1:50400/callback'
  const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirect, scope: 'openid offline_access', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
  const callback = await browserLogin(h, createBrowser(h.publicFetch), url.href, redirect, user('bob'))
  const tokens = await client.authorizationCodeGrant(rp, new URL(callback), { pkceCodeVerifier: verifier })
  await assert.rejects(client.authorizationCodeGrant(rp, new URL(callback), { pkceCodeVerifier: verifier }), (e: client.ResponseBodyError) => e.error === 'invalid_grant')
  await assert.rejects(client.refreshTokenGrant(rp, tokens.refresh_token!), (e: client.ResponseBodyError) => e.error === 'invalid_grant')
  const jti = String(decodeJwt(tokens.access_token).jti)
  assert.ok((await h.identity.context.revocations.after(0)).entries.some((e) => e.value === jti))
  assert.ok(h.audit.events.some((e) => e.type === 'code.replayed'))
})

test('RP-initiated logout ends the session', async () => {
  const { rp, tokens, browser } = await login('bob', 'openid')
  const end = client.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://127.0.0.1/logged-out', state: 'bye' })
  const confirm = await browser.follow(end.href, 'http://127.0.0.1/logged-out')
  assert.equal(confirm.response.status, 200)
  assert.match(confirm.body, /Sign out/)
  const action = /<form[^>]*action="([^"]+)"/.exec(confirm.body)![1]!
  const done = await browser.follow(new URL(action, h.issuer).href, 'http://127.0.0.1/logged-out', { form: { xsrf: hiddenField(confirm.body, 'xsrf'), logout: 'yes' } })
  assert.ok(done.url.startsWith('http://127.0.0.1/logged-out'), done.url)
  assert.ok(h.audit.events.some((e) => e.type === 'session.ended'))
})

test('an admin without a second factor must enrol TOTP (otpauth QR) before the login completes', async () => {
  const ctx = h.identity.context
  await ctx.users.create({ username: 'gina', passwordHash: await ctx.hasher.hash('gina-correct-horse'), roles: ['admin'] })
  const rp = await h.rp('shop-cli')
  const verifier = client.randomPKCECodeVerifier()
  const redirect = 'http://127.0.0.1:50500/callback'
  const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirect, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
  const browser = createBrowser(h.publicFetch)
  let page = await browser.follow(url.href, redirect)
  page = await browser.follow(formAction(page.body, h.issuer), redirect, { form: { csrf: hiddenField(page.body, 'csrf'), username: 'gina', password: 'gina-correct-horse' } })
  assert.match(page.body, /Set up two-factor authentication/)
  assert.match(page.body, /<img class="qr" src="data:image\/png;base64,/)
  const secret = /Key: <code>([A-Z2-7]+)<\/code>/.exec(page.body)![1]!
  const wrong = await browser.follow(formAction(page.body, h.issuer), redirect, { form: { csrf: hiddenField(page.body, 'csrf'), otp: '000000' } })
  assert.equal(wrong.response.status, 401)
  assert.equal((await ctx.users.byUsername('gina'))!.totpEnrolled, false)
  const done = await browser.follow(formAction(wrong.body, h.issuer), redirect, { form: { csrf: hiddenField(wrong.body, 'csrf'), otp: await generate({ secret, epoch: Math.floor(h.clock.now() / 1000) }) } })
  assert.ok(done.url.startsWith(redirect), done.body.slice(0, 200))
  assert.equal((await ctx.users.byUsername('gina'))!.totpEnrolled, true)
  assert.equal(await ctx.users.totpSecret((await ctx.users.byUsername('gina'))!.id), secret)
  assert.ok(h.audit.events.some((e) => e.type === 'mfa.enrolled'))
  const tokens = await client.authorizationCodeGrant(rp, new URL(done.url), { pkceCodeVerifier: verifier })
  assert.deepEqual(decodeJwt(tokens.access_token).roles, ['admin'])
})

test('a third-party client gets a consent screen, and a denial returns access_denied', async () => {
  const ctx = h.identity.context
  await ctx.clients.create({ client_id: 'partner-app', token_endpoint_auth_method: 'none', application_type: 'web', grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: ['https://partner.example/cb'], scope: 'openid profile orders:read' })
  const rp = await h.rp('partner-app')
  const url = client.buildAuthorizationUrl(rp, { redirect_uri: 'https://partner.example/cb', scope: 'openid profile', state: 'st', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' })
  const browser = createBrowser(h.publicFetch)
  let page = await browser.follow(url.href, 'https://partner.example/cb')
  page = await browser.follow(formAction(page.body, h.issuer), 'https://partner.example/cb', { form: { csrf: hiddenField(page.body, 'csrf'), username: 'bob', password: user('bob').password } })
  assert.match(page.body, /Authorize partner-app/)
  const deny = /action="([^"]+\/abort)"/.exec(page.body)![1]!
  const denied = await browser.follow(new URL(deny, h.issuer).href, 'https://partner.example/cb', { form: { csrf: hiddenField(page.body, 'csrf') } })
  assert.equal(new URL(denied.url).searchParams.get('error'), 'access_denied')
})

test('every audit event emitted here is a valid audit event', () => {
  assert.ok(h.audit.events.length > 0)
  for (const event of h.audit.events) assert.deepEqual(checkSchema(AuditEventSchema, structuredClone(event)), [], JSON.stringify(event))
})
