// The platform end to end, black-box: `bulwark up --demo` in a throwaway home,
// then everything through the gateway or the CLI, as a user and an operator would.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import * as client from 'openid-client'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { startSystem, type System } from '../../scripts/lib/system.ts'
import { discover, loginWithPkce } from '../../scripts/lib/oidc-driver.ts'
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import { chromium } from 'playwright-core'

let system: System
let aliceSub: string | undefined

/** openid-client raises OAuth errors as ResponseBodyError (`error`) or a WWW-Authenticate challenge. */
function oauthError(code: string) {
  return (error: unknown) => {
    const e = error as { error?: string; cause?: Array<{ parameters?: { error?: string } }> }
    const found = e.error ?? (Array.isArray(e.cause) ? e.cause[0]?.parameters?.error : undefined)
    assert.equal(found, code, String(error))
    return true
  }
}

before(async () => { system = await startSystem({ demo: true }) }, { timeout: 320_000 })
after(async () => {
  const code = await system?.stop()
  assert.equal(code, 0, 'SIGTERM shuts the platform down cleanly')
})

test('status reports every component ready with its SPIFFE ID', async () => {
  const res = await system.cli(['status', '--json'])
  assert.equal(res.code, 0, res.stderr)
  const status = JSON.parse(res.stdout) as { ready: boolean; gateway: string; issuer: string; components: Array<{ name: string; healthy: boolean; spiffeId: string }> }
  assert.equal(status.ready, true)
  assert.equal(status.gateway, system.gateway)
  const names = status.components.map((c) => c.name).sort()
  for (const name of ['audit', 'ca', 'gateway', 'identity', 'policy', 'vault']) assert.ok(names.includes(name), `${name} in ${names}`)
})

test('the gateway is the OIDC issuer and serves secure defaults', async () => {
  const res = await system.fetch('/.well-known/openid-configuration')
  assert.equal(res.status, 200)
  const discovery = await res.json() as { issuer: string; token_endpoint: string; code_challenge_methods_supported: string[]; grant_types_supported: string[] }
  assert.equal(discovery.issuer, system.gateway)
  assert.ok(discovery.token_endpoint.startsWith(system.gateway))
  assert.deepEqual(discovery.code_challenge_methods_supported, ['S256'])
  assert.ok(!discovery.grant_types_supported.includes('implicit'))
  assert.ok(!discovery.grant_types_supported.includes('password'))
  assert.match(res.headers.get('strict-transport-security') ?? '', /max-age=\d+/)
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
  assert.ok(res.headers.get('x-request-id'))
  assert.equal(res.headers.get('x-powered-by'), null)
  const health = await system.fetch('/healthz')
  assert.equal(health.status, 200)
})

test('errors are problem+json whose instance is the request id; /internal is never routed', async () => {
  for (const path of ['/internal/charge', '/api/orders/../internal/x', '/api/%2e%2e/internal', '/no/such/route']) {
    const res = await system.fetch(path)
    assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status}`)
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/)
    const problem = await res.json() as { type: string; title: string; status: number; detail: string; instance: string }
    assert.equal(problem.status, res.status)
    assert.equal(problem.instance, res.headers.get('x-request-id'))
    assert.ok(problem.title && problem.detail && problem.type)
    assert.doesNotMatch(JSON.stringify(problem), /at .*\.ts:\d+/, 'no stack trace')
  }
})

test('a confidential client gets an RFC 9068 access token by client credentials', async () => {
  const job = system.creds.clients.find((c) => c.clientId === 'reporting-job')!
  const config = await discover(system, job.clientId, job.clientSecret)
  const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read:all' })
  assert.equal(decodeProtectedHeader(tokens.access_token).typ, 'at+jwt')
  const claims = decodeJwt(tokens.access_token)
  assert.equal(claims.iss, system.gateway)
  assert.equal(claims.client_id, 'reporting-job')
  assert.ok((claims.exp! - claims.iat!) <= 300)
  const wrong = await discover(system, job.clientId, 'not-the-secret')
  await assert.rejects(client.clientCredentialsGrant(wrong, { scope: 'orders:read:all' }), oauthError('invalid_client'))
})

test('alice logs in with authorization code + PKCE and rotates her refresh token; reuse kills the family', async () => {
  const alice = system.creds.users.find((u) => u.username === 'alice')!
  const cli = system.creds.clients.find((c) => c.clientId === 'shop-cli')!
  const config = await discover(system, cli.clientId)
  const { tokens, pages } = await loginWithPkce(system, config, alice, 'openid offline_access')
  assert.ok(tokens.id_token, 'an ID token')
  assert.ok(tokens.refresh_token, 'a refresh token')
  assert.match(pages[0]!, /<form method="post"/)
  assert.match(pages[0]!, /name="username"/)
  const claims = decodeJwt(tokens.access_token)
  assert.deepEqual(claims.roles, ['customer'])
  aliceSub = claims.sub
  const rotated = await client.refreshTokenGrant(config, tokens.refresh_token!)
  assert.notEqual(rotated.refresh_token, tokens.refresh_token)
  await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), oauthError('invalid_grant'))
  await assert.rejects(client.refreshTokenGrant(config, rotated.refresh_token!), oauthError('invalid_grant'), 'reuse revokes the whole family')
})

test('admin must pass TOTP MFA', async () => {
  const admin = system.creds.users.find((u) => u.username === 'admin')!
  assert.match(admin.totpSecret ?? '', /^[A-Z2-7]+=*$/)
  const config = await discover(system, 'shop-cli')
  const { tokens, pages } = await loginWithPkce(system, config, admin, 'openid')
  assert.ok(pages.some((p) => /name="otp"/.test(p)), 'an MFA form with input otp')
  assert.deepEqual(decodeJwt(tokens.access_token).roles, ['admin'])
})

test('the audit log records the logins and verifies as untampered', async () => {
  const tail = await system.cli(['audit', 'tail', '--json', '--type', 'login.succeeded'])
  assert.equal(tail.code, 0, tail.stderr)
  const events = tail.stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: { type: string; actor: { id?: string } } })
  assert.ok(events.every((e) => e.event.type === 'login.succeeded'))
  assert.ok(aliceSub && events.some((e) => e.event.actor.id === aliceSub), 'alice\'s login is in the log')
  assert.ok(!tail.stdout.includes(system.creds.users[0]!.password), 'no password in the log')
  const verify = await system.cli(['audit', 'verify'])
  assert.equal(verify.code, 0, verify.stdout + verify.stderr)
})

test('a real browser signs alice in through the login page (Chromium, Playwright)', { skip: existsSync('/usr/bin/chromium') ? false : 'Debian chromium is not installed (.ci/run installs it)' }, async (t) => {
  const alice = system.creds.users.find((u) => u.username === 'alice')!
  const config = await discover(system, 'shop-cli')
  // The relying party's loopback redirect (RFC 8252): any port on 127.0.0.1.
  const received: URL[] = []
  // Only the redirect counts: Chromium may also ask this origin for /favicon.ico.
  const callback = createServer((req, res) => {
    const url = new URL(req.url!, 'http://127.0.0.1')
    if (url.pathname === '/callback') received.push(url)
    res.end('signed in')
  })
  await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve))
  t.after(() => callback.close())
  const redirectUri = `http://127.0.0.1:${(callback.address() as { port: number }).port}/callback`
  const verifier = client.randomPKCECodeVerifier()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid', state: 'st-browser', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  })
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  t.after(() => browser.close())
  // The gateway's certificate chains to this instance's throwaway root, which Chromium does not know.
  const context = await browser.newContext({ ignoreHTTPSErrors: true })
  const page = await context.newPage()
  const violations: string[] = []
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()) })
  const first = await page.goto(url.href)
  assert.match(first!.headers()['content-security-policy'] ?? '', /default-src/)
  assert.equal(await page.locator('form[method="post"] input[name="username"]').count(), 1)
  for (const id of ['username', 'password']) assert.equal(await page.locator(`label[for="${id}"]`).count(), 1, `${id} has a label`)
  assert.equal(await page.locator('script:not([src])').count(), 0, 'no inline script')
  await page.fill('input[name="username"]', alice.username)
  await page.fill('input[name="password"]', alice.password)
  await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: 30_000 }), page.locator('form[method="post"] [type="submit"]').first().click()])
  assert.equal(received.length, 1)
  const back = received[0]!
  assert.equal(back.searchParams.get('state'), 'st-browser')
  assert.equal(back.searchParams.get('iss'), system.gateway, 'RFC 9207 iss parameter')
  const tokens = await client.authorizationCodeGrant(config, new URL(`${redirectUri}${back.search}`), { pkceCodeVerifier: verifier, expectedState: 'st-browser' })
  assert.equal(decodeJwt(tokens.access_token).sub, aliceSub ?? decodeJwt(tokens.access_token).sub)
  assert.deepEqual(violations, [])
})
