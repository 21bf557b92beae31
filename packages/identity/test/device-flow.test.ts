import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AuditEventSchema, checkSchema } from '@bulwark/core'
import { readFileSync } from 'node:fs'
import * as client from 'openid-client'
import { decodeJwt } from 'jose'
import { startHarness, createBrowser, hiddenField, formAction, type Harness } from './helpers.ts'

let h: Harness
before(async () => { h = await startHarness() })
after(async () => { await h?.close() })

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code'

test('the device flow (RFC 8628) signs a CLI in through the browser pages', async () => {
  const rp = await h.rp('shop-cli')
  const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid offline_access orders:read' })
  assert.match(device.user_code, /^[A-Z]{4}-[A-Z]{4}$/)
  await assert.rejects(client.genericGrantRequest(rp, DEVICE, { device_code: device.device_code }), (e: client.ResponseBodyError) => e.error === 'authorization_pending')

  const browser = createBrowser(h.publicFetch)
  const stop = 'http://never'
  let page = await browser.follow(device.verification_uri, stop)
  assert.equal(page.response.status, 200)
  assert.match(page.body, /<label for="user_code">/)
  assert.doesNotMatch(page.body, /<script|onfocus/)
  const inputAction = /<form[^>]*action="([^"]+)"/.exec(page.body)![1]!
  page = await browser.follow(new URL(inputAction, h.issuer).href, stop, { form: { xsrf: hiddenField(page.body, 'xsrf'), user_code: device.user_code } })
  assert.match(page.body, /Confirm device/)
  const confirmAction = /<form[^>]*action="([^"]+)"/.exec(page.body)![1]!
  page = await browser.follow(new URL(confirmAction, h.issuer).href, stop, { form: { xsrf: hiddenField(page.body, 'xsrf'), user_code: hiddenField(page.body, 'user_code'), confirm: 'yes' } })
  assert.match(page.body, /name="username"/)
  const alice = h.demo.users.find((u) => u.username === 'alice')!
  page = await browser.follow(formAction(page.body, h.issuer), stop, { form: { csrf: hiddenField(page.body, 'csrf'), username: 'alice', password: alice.password } })
  assert.match(page.body, /Device connected/)

  const tokens = await client.genericGrantRequest(rp, DEVICE, { device_code: device.device_code })
  const claims = decodeJwt(tokens.access_token)
  assert.equal(claims.sub, (await h.identity.context.users.byUsername('alice'))!.id)
  assert.equal(claims.aud, 'spiffe://bulwark.test/svc/gateway')
  assert.ok(tokens.refresh_token)
  assert.ok(h.audit.events.some((e) => e.type === 'token.issued' && e.details?.grantType === DEVICE))

  // Nothing that works as a credential is in the database file in clear.
  const stored = Buffer.concat([h.dbPath, `${h.dbPath}-wal`].map((p) => { try { return readFileSync(p) } catch { return Buffer.alloc(0) } }))
  const cookies = [...browser.jar.values()]
  for (const secret of [tokens.refresh_token!, device.device_code, device.user_code, device.user_code.replace('-', ''), alice.password, ...cookies.map((c) => c.split('.')[0]!)]) {
    assert.equal(stored.includes(Buffer.from(secret)), false, 'secret found in the database')
  }
  // A used device code cannot be redeemed twice.
  await assert.rejects(client.genericGrantRequest(rp, DEVICE, { device_code: device.device_code }), (e: client.ResponseBodyError) => e.error === 'invalid_grant')
})

test('every audit event emitted here is a valid audit event', () => {
  assert.ok(h.audit.events.length > 0)
  for (const event of h.audit.events) assert.deepEqual(checkSchema(AuditEventSchema, structuredClone(event)), [], JSON.stringify(event))
})
