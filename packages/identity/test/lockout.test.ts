import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AuditEventSchema, checkSchema } from '@bulwark/core'
import * as client from 'openid-client'
import { startHarness, createBrowser, hiddenField, formAction, type Harness } from './helpers.ts'

let h: Harness
before(async () => {
  h = await startHarness()
  for (const name of ['carol', 'dave', 'erin']) {
    await h.identity.context.users.create({ username: name, passwordHash: await h.identity.context.hasher.hash(`${name}-correct-horse`), roles: ['customer'] })
  }
})
after(async () => { await h?.close() })

/** One login interaction from one client IP; `attempt` posts the login form. */
async function loginPage(ip: string) {
  const rp = await h.rp('shop-cli')
  const redirect = 'http://127.0.0.1:51000/callback'
  const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirect, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' })
  const browser = createBrowser(h.publicFetch)
  browser.ip = ip
  const page = await browser.follow(url.href, redirect)
  assert.equal(page.response.status, 200)
  const action = formAction(page.body, h.issuer)
  const csrf = hiddenField(page.body, 'csrf')
  return {
    async attempt(username: string, password: string) {
      const response = await browser.request(action, { form: { csrf, username, password } })
      return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.text() }
    },
  }
}

const MINUTE = 60_000

test('failures per account earn a growing delay, then a temporary lockout that expires', async () => {
  const page = await loginPage('198.51.100.1')
  for (let i = 0; i < 3; i++) assert.equal((await page.attempt('carol', 'wrong-password')).status, 401)
  assert.equal((await page.attempt('carol', 'wrong-password')).status, 401)
  // The 4th failure is past the free allowance: the very next attempt must wait, even with the right password.
  const delayed = await page.attempt('carol', 'carol-correct-horse')
  assert.equal(delayed.status, 429)
  assert.ok(Number(delayed.retryAfter) >= 1)
  for (let failures = 5; failures <= 10; failures++) {
    h.clock.advance(31_000)
    assert.equal((await page.attempt('carol', 'wrong-password')).status, 401)
  }
  h.clock.advance(31_000)
  const locked = await page.attempt('carol', 'carol-correct-horse')
  assert.equal(locked.status, 429)
  assert.match(locked.body, /temporarily locked/)
  assert.ok(h.audit.events.some((e) => e.type === 'account.locked' && e.resource?.startsWith('user:')))
  assert.ok(h.audit.events.some((e) => e.type === 'login.failed' && e.reason === 'locked_out'))
  // The client address is the gateway's X-Forwarded-For hop, not the gateway's own socket address.
  assert.ok(h.audit.events.some((e) => e.type === 'login.failed' && e.actor.ip === '198.51.100.1'))
  // Another IP does not help: the account itself is locked.
  assert.equal((await (await loginPage('198.51.100.50')).attempt('carol', 'carol-correct-horse')).status, 429)
  // After the lockout period the right password works again (new interaction: the old one expired with time).
  h.clock.advance(16 * MINUTE)
  const after = await (await loginPage('198.51.100.1')).attempt('carol', 'carol-correct-horse')
  assert.equal(after.status, 303)
})

test('failures per client IP lock that IP out for every account', async () => {
  const page = await loginPage('198.51.100.2')
  for (let i = 0; i < 10; i++) {
    h.clock.advance(31_000)
    assert.equal((await page.attempt(`ghost${i}`, 'whatever-password')).status, 401)
  }
  h.clock.advance(31_000)
  assert.equal((await page.attempt('dave', 'dave-correct-horse')).status, 429)
  assert.equal((await (await loginPage('198.51.100.3')).attempt('dave', 'dave-correct-horse')).status, 303)
  assert.ok(h.audit.events.some((e) => e.type === 'account.locked' && e.resource === 'ip'))
})

test('a success does not wash out earlier failures', async () => {
  const page = await loginPage('198.51.100.4')
  for (let i = 0; i < 3; i++) assert.equal((await page.attempt('erin', 'wrong-password')).status, 401)
  assert.equal((await (await loginPage('198.51.100.5')).attempt('erin', 'erin-correct-horse')).status, 303)
  assert.equal((await page.attempt('erin', 'wrong-password')).status, 401)
  assert.equal((await page.attempt('erin', 'erin-correct-horse')).status, 429)
})

test('every audit event emitted here is a valid audit event', () => {
  assert.ok(h.audit.events.length > 0)
  for (const event of h.audit.events) assert.deepEqual(checkSchema(AuditEventSchema, structuredClone(event)), [], JSON.stringify(event))
})
