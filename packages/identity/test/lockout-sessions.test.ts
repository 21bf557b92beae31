// Test fixture: every password in this file is a made-up test value.
// A lockout stops new password logins only (DESIGN.md: lockout): ten wrong
// passwords against a username, through the real login form, lock the account
// at identity and make the real audit service's brute-force detector lock it
// again over mTLS, yet the user's refresh token keeps working. Ending the
// sessions is a separate, explicit decision: an operator's lock with
// `revokeSessions`, which does end them.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { request } from 'undici'
import * as client from 'openid-client'
import {
  createHealth, createMetrics, createMtlsAgent, createSilentLogger, expectSpiffeId, loadConfig, mtlsServerOptions, operatorSpiffeId, serviceSpiffeId,
} from '@bulwark/core'
import { tempDir } from '@bulwark/testkit'
import { AuditConfigSchema, createAuditService, createIdentityLocker, type AuditService } from '@bulwark/audit'
import { startHarness, createBrowser, browserLogin, hiddenField, formAction, type Harness } from './helpers.ts'

let h: Harness
let audit: AuditService
let auditUrl: string
const agents: Array<{ close(): Promise<void> }> = []
const auditDir = tempDir('bulwark-identity-audit-')

before(async () => {
  h = await startHarness()
  for (const name of ['gina', 'hank']) {
    await h.identity.context.users.create({ username: name, passwordHash: await h.identity.context.hasher.hash(`${name}-correct-horse`), roles: ['customer'] })
  }
  // The real audit service, its detectors answering through the real lock call to this identity.
  const source = await h.ca.source('audit')
  const toIdentity = createMtlsAgent(source, { verifyPeer: expectSpiffeId(serviceSpiffeId(h.ca.trustDomain, 'identity')) })
  agents.push(toIdentity)
  audit = await createAuditService(loadConfig(AuditConfigSchema, { value: {} }), {
    log: createSilentLogger(), metrics: createMetrics('audit'), health: createHealth(), clock: h.clock, trustDomain: h.ca.trustDomain,
    dataDir: auditDir.path, https: mtlsServerOptions(source), lockAccount: createIdentityLocker({ url: h.url, dispatcher: toIdentity }),
  })
  await audit.app.listen({ host: '127.0.0.1', port: 0 })
  auditUrl = `https://127.0.0.1:${(audit.app.server.address() as { port: number }).port}`
})
after(async () => {
  for (const agent of agents) await agent.close().catch(() => undefined)
  await audit?.app.close()
  await audit?.close()
  await h?.close()
  auditDir.remove()
})

async function auditCall(as: string, method: 'GET' | 'POST', path: string, body?: unknown) {
  const agent = createMtlsAgent(await h.ca.source(as), { verifyPeer: expectSpiffeId(serviceSpiffeId(h.ca.trustDomain, 'audit')) })
  agents.push(agent)
  const res = await request(`${auditUrl}${path}`, { method, dispatcher: agent, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined })
  return { status: res.statusCode, body: await res.body.json() as any }
}

/** Signs `name` in through the authorization-code flow (PKCE) and keeps the refresh token. */
async function signIn(name: string) {
  const rp = await h.rp('shop-cli')
  const verifier = client.randomPKCECodeVerifier()
  const redirect = 'http://127.0.0.1:51200/callback'
  const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirect, scope: 'openid offline_access', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
  const browser = createBrowser(h.publicFetch)
  browser.ip = '198.51.100.80'
  const callback = await browserLogin(h, browser, url.href, redirect, { username: name, password: `${name}-correct-horse` })
  const tokens = await client.authorizationCodeGrant(rp, new URL(callback), { pkceCodeVerifier: verifier })
  assert.ok(tokens.refresh_token)
  return { rp, refreshToken: tokens.refresh_token }
}

/** A login page from `ip`; `attempt` posts the real form. */
async function loginPage(ip: string) {
  const rp = await h.rp('shop-cli')
  const redirect = 'http://127.0.0.1:51201/callback'
  const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirect, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' })
  const browser = createBrowser(h.publicFetch)
  browser.ip = ip
  const page = await browser.follow(url.href, redirect)
  assert.equal(page.response.status, 200)
  const action = formAction(page.body, h.issuer)
  const csrf = hiddenField(page.body, 'csrf')
  return async (username: string, password: string) => {
    const response = await browser.request(action, { form: { csrf, username, password } })
    return { status: response.status, body: await response.text() }
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

test('ten wrong passwords lock new logins out but leave the user\'s refresh token working (identity lockout and the audit detector\'s lock)', async () => {
  const gina = (await h.identity.context.users.byUsername('gina'))!
  const session = await signIn('gina')
  const shipped = h.audit.events.length
  const attempt = await loginPage('203.0.113.99')
  for (let i = 0; i < 10; i++) {
    h.clock.advance(31_000) // past the progressive delay: each guess is a real check of the password
    assert.equal((await attempt('gina', `wrong-guess-${i}`)).status, 401)
  }
  assert.ok(await h.identity.context.lockout.lockedUntil('acct:gina'), 'identity\'s own lockout after 10 failures')
  // identity's events reach the audit service as the sdk emitter ships them; its brute-force detector locks over mTLS.
  const events = h.audit.events.slice(shipped).map((e) => ({ ...e, id: randomUUID() }))
  assert.equal((await auditCall('identity', 'POST', '/v1/events', { events })).status, 200)
  await until(() => h.audit.events.some((e) => e.type === 'account.locked' && e.actor.spiffeId === serviceSpiffeId(h.ca.trustDomain, 'audit')), 'the detector\'s lock')
  await audit.audit.flush()
  const alert = (await auditCall(operatorSpiffeId(h.ca.trustDomain), 'GET', '/v1/alerts')).body.alerts.find((a: any) => a.detector === 'brute_force')
  assert.equal(alert?.outcome?.status, 'done')

  // New password logins are refused, from any address, even with the right password.
  const refused = await (await loginPage('198.51.100.81'))('gina', 'gina-correct-horse')
  assert.equal(refused.status, 429)
  assert.match(refused.body, /temporarily locked/)
  // The session the real user already had keeps working: the refresh token still refreshes, and rotates.
  const refreshed = await client.refreshTokenGrant(session.rp, session.refreshToken)
  assert.ok(refreshed.access_token && refreshed.refresh_token && refreshed.refresh_token !== session.refreshToken)
  assert.ok(await client.refreshTokenGrant(session.rp, refreshed.refresh_token!))
  assert.ok(((await h.identity.context.recordsOf(gina.id)).RefreshToken ?? 0) >= 1)
  // Every decision is audited: the lockout and the detector's lock (asked not to revoke), and no revocation.
  const locks = h.audit.events.filter((e) => e.type === 'account.locked' && e.resource === `user:${gina.id}`)
  assert.deepEqual(locks.map((e) => e.reason).sort(), ['detector_lock', 'too_many_failures'])
  assert.equal(locks.find((e) => e.reason === 'detector_lock')!.details?.revokeSessions, false)
  assert.equal(h.audit.events.some((e) => e.type === 'subject.revoked' && e.resource === `user:${gina.id}`), false)
  assert.equal(await h.identity.context.revocations.isRevoked({ sub: gina.id, iat: Math.floor(h.clock.now() / 1000) }), false)
})

test('an operator lock with an explicit revokeSessions ends the user\'s sessions and refresh tokens, audited with its reason', async () => {
  const hank = (await h.identity.context.users.byUsername('hank'))!
  const session = await signIn('hank')
  const operator = await h.operatorFetch()
  const lock = (body: unknown) => operator(`${h.url}/admin/v1/users/hank/lock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  // Bad input is a 400 and changes nothing.
  const bad = await lock({ seconds: 600, reason: 'stolen laptop', revokeSessions: 'maybe' })
  assert.equal(bad.status, 400)
  assert.equal(await h.identity.context.lockout.lockedUntil('acct:hank'), undefined)
  const locked = await lock({ seconds: 600, reason: 'stolen laptop', revokeSessions: true })
  assert.equal(locked.status, 200)
  const body = await locked.json() as { sessionsRevoked: boolean; removedRecords: number }
  assert.equal(body.sessionsRevoked, true)
  assert.ok(body.removedRecords >= 1)
  await assert.rejects(client.refreshTokenGrant(session.rp, session.refreshToken), (error: { error?: string }) => error.error === 'invalid_grant')
  assert.equal((await h.identity.context.recordsOf(hank.id)).RefreshToken, undefined)
  assert.ok(await h.identity.context.revocations.isRevoked({ sub: hank.id, iat: Math.floor(h.clock.now() / 1000) - 1 }))
  const lockEvent = h.audit.events.find((e) => e.type === 'account.locked' && e.resource === `user:${hank.id}`)
  assert.equal(lockEvent?.reason, 'admin_lock')
  assert.equal(lockEvent?.details?.revokeSessions, true)
  const revoked = h.audit.events.find((e) => e.type === 'subject.revoked' && e.resource === `user:${hank.id}`)
  assert.equal(revoked?.reason, 'lock_with_revoke')
  assert.equal(revoked?.actor.spiffeId, operatorSpiffeId(h.ca.trustDomain))
})
