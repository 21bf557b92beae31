// The console in a real browser (Debian's Chromium via playwright-core), on
// one `bulwark up --demo`: sign-in through identity with TOTP, the overview,
// the audit log with an inclusion proof checked in the page, quarantine and
// release with a step-up sign-in, a customer refused, no CSP violation and no
// serious accessibility problem (axe-core) on any page.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { generate } from 'otplib'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { startSystem, type System } from '../../scripts/lib/system.ts'

const skip = existsSync('/usr/bin/chromium') ? false : 'Debian chromium is not installed (.ci/run installs it)'
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? new URL('../../docs/console/', import.meta.url).pathname : undefined
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

let system: System
let browser: Browser
let admin: BrowserContext
let page: Page
const violations: string[] = []
let lastStep = 0

/** A TOTP code of a time step not used before: identity refuses a replayed step (RFC 6238 §5.2). */
async function freshCode(secret: string): Promise<string> {
  let step = Math.floor(Date.now() / 30_000)
  while (step <= lastStep) {
    await new Promise((r) => setTimeout(r, 1000))
    step = Math.floor(Date.now() / 30_000)
  }
  lastStep = step
  return await generate({ secret })
}

function watch(p: Page): void {
  p.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text()) })
  p.on('pageerror', (e) => violations.push(`page error: ${e.message}`))
}

async function signIn(p: Page, user: { username: string; password: string; totpSecret?: string }): Promise<void> {
  await p.fill('input[name="username"]', user.username)
  await p.fill('input[name="password"]', user.password)
  await Promise.all([p.waitForLoadState('load'), p.locator('form[method="post"] [type="submit"]').first().click()])
  if (user.totpSecret) {
    await p.waitForSelector('input[name="otp"]')
    await p.fill('input[name="otp"]', await freshCode(user.totpSecret))
    await Promise.all([p.waitForLoadState('load'), p.locator('form[method="post"] [type="submit"]').first().click()])
  }
}

async function axe(p: Page, name: string): Promise<void> {
  await p.evaluate(AXE)
  const result = await p.evaluate(async () => await (globalThis as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact: string; help: string }> }> } }).axe.run())
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`)
  assert.deepEqual(bad, [], `${name}: accessibility`)
}

async function shot(p: Page, name: string): Promise<void> {
  if (!SHOTS) return
  mkdirSync(SHOTS, { recursive: true })
  await p.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true })
}

async function auditTypes(type: string): Promise<Array<{ event: { type: string; actor: { id?: string }; outcome: string; resource?: string; details?: Record<string, unknown>; component: string } }>> {
  const res = await system.cli(['audit', 'tail', '--json', '--type', type])
  assert.equal(res.code, 0, res.stderr)
  return res.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
}

before(async () => {
  if (skip) return
  system = await startSystem({ demo: true })
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  admin = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } })
  page = await admin.newPage()
  watch(page)
}, { timeout: 320_000 })

after(async () => {
  await browser?.close()
  if (system) assert.equal(await system.stop(), 0)
})

test('console: an admin signs in through identity with password and TOTP and sees every component healthy', { skip, timeout: 120_000 }, async () => {
  const user = system.creds.users.find((u) => u.username === 'admin')!
  const first = await page.goto(`${system.gateway}/console/`)
  assert.ok(first)
  assert.match(page.url(), /\/interaction\//, 'sent to identity\'s sign-in page')
  await signIn(page, user)
  await page.waitForURL(`${system.gateway}/console/`).catch(async (error: Error) => {
    throw new Error(`${error.message}: at ${page.url()}: ${(await page.locator('body').innerText()).slice(0, 500)}`)
  })
  const cookies = await admin.cookies(system.gateway)
  const session = cookies.find((c) => c.name === '__Host-bulwark-console')
  assert.ok(session, 'a __Host- session cookie')
  assert.equal(session.secure, true)
  assert.equal(session.httpOnly, true)
  assert.equal(session.sameSite, 'Strict')
  assert.equal(session.path, '/')
  const summary = page.getByTestId('health-summary')
  await summary.waitFor()
  // Components may still be settling right after start: the page refreshes itself.
  await page.waitForFunction(() => /^(\d+) of \1 components healthy/.test(document.querySelector('[data-testid="health-summary"]')?.textContent ?? ''), undefined, { timeout: 60_000 })
  for (const name of ['ca', 'audit', 'policy', 'vault', 'identity', 'gateway', 'payments', 'console']) {
    assert.match(await page.locator(`tr[data-component="${name}"]`).innerText(), /Healthy/, name)
  }
  const csp = (await page.request.get(`${system.gateway}/console/`)).headers()['content-security-policy'] ?? ''
  assert.match(csp, /script-src 'self'/)
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
  assert.equal(await page.locator('script:not([src])').count(), 0, 'no inline script')
  assert.equal(await page.evaluate(() => document.cookie), '', 'no cookie or token readable by script')
  assert.equal(await page.evaluate(() => Object.keys(localStorage).length + Object.keys(sessionStorage).length), 0, 'nothing in browser storage')
  await axe(page, 'overview')
  await shot(page, 'overview')
  const signedIn = await auditTypes('console.signed_in')
  assert.ok(signedIn.some((e) => e.event.component === 'console' && e.event.outcome === 'success'))
})

test('console: a state change without the session\'s CSRF token is refused and changes nothing', { skip }, async () => {
  const res = await page.request.post(`${system.gateway}/console/api/actions`, { data: { action: 'quarantine', service: 'payments', confirm: 'payments' } })
  assert.equal(res.status(), 403)
  assert.match(res.headers()['content-type'] ?? '', /application\/problem\+json/)
  const wrong = await page.request.post(`${system.gateway}/console/api/actions`, { data: { action: 'quarantine', service: 'payments', confirm: 'payments' }, headers: { 'x-csrf-token': 'x'.repeat(43) } })
  assert.equal(wrong.status(), 403)
  const overview = await (await page.request.get(`${system.gateway}/console/api/overview`)).json() as { components: Array<{ name: string; quarantined: boolean }> }
  assert.equal(overview.components.find((c) => c.name === 'payments')!.quarantined, false)
})

test('console: the audit page finds an entry and its inclusion proof and tree-head signature verify in the browser', { skip, timeout: 60_000 }, async () => {
  await page.goto(`${system.gateway}/console/#/audit`)
  await page.fill('#f-type', 'console.signed_in')
  await page.selectOption('#f-outcome', 'success')
  await page.click('form[role="search"] button[type="submit"]')
  const link = page.locator('table a[href^="#/audit/"]').first()
  await link.waitFor()
  await axe(page, 'audit')
  await shot(page, 'audit')
  await link.click()
  const verdict = page.getByTestId('proof-verdict')
  await verdict.waitFor()
  assert.match(await verdict.innerText(), /^Verified/)
  assert.equal(await page.locator('.checks li.pass').count(), 4)
  await axe(page, 'audit entry')
  await shot(page, 'audit-entry')
})

test('console: quarantine and release payments need a confirmation and a fresh sign-in with TOTP, and are audited naming the operator', { skip, timeout: 180_000 }, async () => {
  const user = system.creds.users.find((u) => u.username === 'admin')!
  for (const action of ['quarantine', 'release'] as const) {
    await page.goto(`${system.gateway}/console/#/overview`)
    const button = page.locator('tr[data-component="payments"] button', { hasText: action === 'quarantine' ? 'Quarantine' : 'Release' })
    await button.click()
    const dialog = page.locator('dialog#confirm')
    await dialog.waitFor()
    if (action === 'quarantine') await axe(page, 'confirmation dialog')
    await page.fill('#confirm-name', 'payments')
    await Promise.all([page.waitForURL(/\/interaction\//), dialog.locator('button[type="submit"]').click()])
    // A step-up is a new sign-in: password and a TOTP code of a new time step.
    assert.equal(await page.locator('input[name="username"]').count(), 1, 'asked for the password again')
    await signIn(page, user)
    await page.waitForURL(/\/console\/#\/overview/)
    const banner = page.locator('.banner.success')
    await banner.waitFor()
    assert.match(await banner.innerText(), action === 'quarantine' ? /payments quarantined/ : /payments released/)
    const row = page.locator('tr[data-component="payments"]')
    if (action === 'quarantine') {
      await row.locator('text=Quarantined').waitFor()
      const res = await system.fetch('/api/payments/methods')
      assert.ok(res.status >= 500 || res.status === 401, `payments unreachable while quarantined (${res.status})`)
    } else {
      await page.waitForFunction(() => !/Quarantined/.test(document.querySelector('tr[data-component="payments"]')?.textContent ?? ''), undefined, { timeout: 30_000 })
    }
  }
  const adminSub = (await auditTypes('console.signed_in')).at(-1)!.event.actor.id
  for (const type of ['incident.service_quarantined', 'incident.service_released']) {
    const events = (await auditTypes(type)).filter((e) => e.event.component === 'console')
    assert.equal(events.length, 1, type)
    assert.equal(events[0]!.event.actor.id, adminSub, 'the operator is named')
    assert.equal(events[0]!.event.details?.operator, 'admin')
    assert.equal(events[0]!.event.resource, 'service:payments')
  }
})

test('console: a customer who signs in gets a clear 403 page and no session', { skip, timeout: 60_000 }, async () => {
  const alice = system.creds.users.find((u) => u.username === 'alice')!
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 } })
  try {
    const p = await context.newPage()
    watch(p)
    await p.goto(`${system.gateway}/console/`)
    await p.fill('input[name="username"]', alice.username)
    await p.fill('input[name="password"]', alice.password)
    const [response] = await Promise.all([p.waitForResponse((r) => r.url().includes('/console/callback')), p.locator('form[method="post"] [type="submit"]').first().click()])
    assert.equal(response.status(), 403)
    await p.waitForSelector('h1')
    assert.equal(await p.locator('h1').innerText(), 'Not allowed')
    assert.match(await p.locator('main').innerText(), /only for administrators/)
    assert.equal((await context.cookies(system.gateway)).some((c) => c.name === '__Host-bulwark-console'), false)
    await axe(p, '403 page')
    await shot(p, 'forbidden-phone')
    const api = await p.request.get(`${system.gateway}/console/api/overview`)
    assert.equal(api.status(), 401)
    const denied = await auditTypes('console.access_denied')
    assert.ok(denied.some((e) => e.event.outcome === 'denied'))
  } finally {
    await context.close()
  }
})

test('console: signing out ends the console session and the session at identity', { skip, timeout: 60_000 }, async () => {
  await page.goto(`${system.gateway}/console/#/overview`)
  await page.getByTestId('health-summary').waitFor()
  await page.click('form.signout button[type="submit"]')
  // Identity asks to confirm the RP-initiated logout.
  await page.waitForURL(/\/oauth2\/logout|\/console\/signed-out/).catch(async (error: Error) => {
    throw new Error(`${error.message}: at ${page.url()}: ${(await page.locator('body').innerText()).slice(0, 800)}`)
  })
  if (/\/oauth2\/logout/.test(page.url())) await Promise.all([page.waitForURL(/\/console\/signed-out/), page.locator('button[name="logout"][value="yes"]').click()])
  assert.equal((await admin.cookies(system.gateway)).some((c) => c.name === '__Host-bulwark-console'), false)
  const api = await page.request.get(`${system.gateway}/console/api/overview`)
  assert.equal(api.status(), 401)
  // Identity's own session is gone too: the console's sign-in asks for the password again.
  await page.goto(`${system.gateway}/console/`)
  assert.equal(await page.locator('input[name="username"]').count(), 1)
  assert.deepEqual(violations, [], 'no CSP violation or script error on any page')
})
