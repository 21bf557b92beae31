// Test fixture: every password, secret and token in this file is a made-up test value.
// Two identity replicas on one PostgreSQL behind a forwarder without sticky
// sessions (issue 13): a login started at one finishes at the other, a refresh
// token issued by one is refreshed at the other and its reuse is detected at
// either, and a code or refresh token redeemed at both at once works once.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as client from 'openid-client'
import { decodeJwt } from 'jose'
import { postgresSkipReason, startPostgres, type TestPostgres } from '@bulwark/testkit'
import { startHarness, createBrowser, browserLogin, hiddenField, formAction, type Harness } from './helpers.ts'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
let h: Harness
let b: Awaited<ReturnType<Harness['addReplica']>>

before(async () => {
  if (pgSkip) return
  server = await startPostgres()
  h = await startHarness({}, { storage: { postgres: { url: await server.createDatabase('identity') } } })
  b = await h.addReplica()
})
after(async () => {
  await h?.close()
  await server?.stop()
})

const A = 0
const REDIRECT = 'http://127.0.0.1:50123/callback'
const user = (name: string) => h.demo.users.find((u) => u.username === name)!

/** Browser login through the forwarder, wherever it currently routes; returns the code and its verifier. */
async function authorize(name: string, scope = 'openid offline_access orders:read') {
  const rp = await h.rp('shop-cli')
  const verifier = client.randomPKCECodeVerifier()
  const url = client.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
  const callback = await browserLogin(h, createBrowser(h.publicFetch), url.href, REDIRECT, user(name))
  return { rp, verifier, code: new URL(callback).searchParams.get('code')! }
}

/** A token request as shop-cli sends it, to one replica. */
async function token(replica: number, form: Record<string, string>): Promise<{ status: number; body: Record<string, string> }> {
  const response = await h.publicFetch(`${h.issuer}/oauth2/token`, {
    method: 'POST', body: new URLSearchParams({ client_id: 'shop-cli', ...form }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-test-replica': String(replica) },
  })
  return { status: response.status, body: await response.json() as Record<string, string> }
}

const redeem = (replica: number, code: string, verifier: string) => token(replica, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier })
const refresh = (replica: number, refreshToken: string) => token(replica, { grant_type: 'refresh_token', refresh_token: refreshToken })

test('postgres replicas: a login started at one identity replica finishes at the other', { skip: pgSkip }, async () => {
  const rp = await h.rp('shop-cli')
  const verifier = client.randomPKCECodeVerifier()
  const url = client.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid orders:read', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
  const browser = createBrowser(h.publicFetch)
  h.route(A)
  const page = await browser.follow(url.href, REDIRECT)
  assert.match(page.body, /name="password"/, 'replica A rendered the login page')
  h.route(b.index)
  try {
    const done = await browser.follow(formAction(page.body, h.issuer), REDIRECT, { form: { csrf: hiddenField(page.body, 'csrf'), username: 'alice', password: user('alice').password } })
    assert.ok(done.url.startsWith(REDIRECT), `replica B completed the interaction: ${done.response.status} ${done.body.slice(0, 200)}`)
    const code = new URL(done.url).searchParams.get('code')!
    const redeemed = await redeem(A, code, verifier)
    assert.equal(redeemed.status, 200, 'and replica A redeems the code B issued')
    assert.equal(decodeJwt(redeemed.body.access_token!).sub, (await h.identity.context.users.byUsername('alice'))!.id)
  } finally {
    h.route(A)
  }
})

test('postgres replicas: a refresh token issued by one replica is refreshed at the other, and its reuse is detected at either', { skip: pgSkip }, async () => {
  const { code, verifier } = await authorize('bob')
  const issued = await redeem(A, code, verifier)
  assert.equal(issued.status, 200)
  const refreshed = await refresh(b.index, issued.body.refresh_token!)
  assert.equal(refreshed.status, 200, 'replica B refreshes what A issued')
  assert.notEqual(refreshed.body.refresh_token, issued.body.refresh_token)
  const reused = await refresh(A, issued.body.refresh_token!)
  assert.equal(reused.status, 400)
  assert.equal(reused.body.error, 'invalid_grant', 'replica A detects the reuse of the rotated token')
  assert.equal((await refresh(b.index, refreshed.body.refresh_token!)).body.error, 'invalid_grant', 'and the whole family is revoked at B too')
  const jti = String(decodeJwt(refreshed.body.access_token!).jti)
  assert.ok((await b.identity.context.revocations.after(0)).entries.some((e) => e.kind === 'jti' && e.value === jti), 'the access token B issued is in the feed')
  assert.ok(h.audit.events.some((e) => e.type === 'token.reused'))
})

test('postgres replicas: a refresh token presented at both replicas at once is honoured once, and the family is revoked', { skip: pgSkip }, async () => {
  for (let round = 0; round < 3; round++) {
    const { code, verifier } = await authorize('alice')
    const issued = await redeem(A, code, verifier)
    const both = await Promise.all([refresh(A, issued.body.refresh_token!), refresh(b.index, issued.body.refresh_token!)])
    assert.deepEqual(both.map((r) => r.status).sort(), [200, 400], `round ${round}: one refresh wins`)
    const winner = both.find((r) => r.status === 200)!
    assert.equal(both.find((r) => r.status === 400)!.body.error, 'invalid_grant')
    assert.equal((await refresh(A, winner.body.refresh_token!)).body.error, 'invalid_grant', 'the winner\'s new refresh token dies with the family')
  }
})

test('postgres replicas: a code redeemed at one replica cannot be redeemed at the other, not even at the same moment', { skip: pgSkip }, async () => {
  const first = await authorize('bob', 'openid')
  assert.equal((await redeem(A, first.code, first.verifier)).status, 200)
  const again = await redeem(b.index, first.code, first.verifier)
  assert.equal(again.body.error, 'invalid_grant', 'replica B refuses the code A redeemed')
  for (let round = 0; round < 3; round++) {
    const { code, verifier } = await authorize('bob', 'openid')
    const both = await Promise.all([redeem(A, code, verifier), redeem(b.index, code, verifier)])
    assert.deepEqual(both.map((r) => r.status).sort(), [200, 400], `round ${round}: one redemption wins`)
  }
  assert.ok(h.audit.events.some((e) => e.type === 'code.replayed'))
})
