// Test fixture: every password, secret and token in this file is a made-up test value.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { AuditEventSchema, checkSchema } from '@bulwark/core'
import { statSync, readFileSync } from 'node:fs'
import * as client from 'openid-client'
import { decodeJwt, decodeProtectedHeader, jwtVerify, createLocalJWKSet, generateKeyPair, exportJWK } from 'jose'
import { startHarness, type Harness } from './helpers.ts'
import { seedDemo } from '../src/seed.ts'

let h: Harness
let operator: Awaited<ReturnType<Harness['operatorFetch']>>
before(async () => { h = await startHarness(); operator = await h.operatorFetch() })
after(async () => { await h?.close() })

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
const job = () => h.demo.clients.find((c) => c.clientId === 'reporting-job')!
async function ccToken(): Promise<string> {
  return (await client.clientCredentialsGrant(await h.rp('reporting-job', client.ClientSecretBasic(job().clientSecret!)), {})).access_token
}
async function jwks() {
  return await (await h.publicFetch(`${h.issuer}/oauth2/jwks`)).json() as { keys: Array<{ kid: string; d?: string }> }
}

test('admin routes are for the operator only, with problem+json refusals', async () => {
  assert.equal((await operator(`${h.url}/admin/v1/users`)).status, 200)
  const orders = await h.workloadFetch('orders')
  const refused = await orders(`${h.url}/admin/v1/users`)
  assert.equal(refused.status, 403)
  assert.match(refused.headers.get('content-type')!, /application\/problem\+json/)
  assert.equal((await refused.json() as { code: string }).code, 'BW_PEER_IDENTITY')
  assert.ok(h.audit.events.some((e) => e.type === 'authz.denied' && e.actor.spiffeId === 'spiffe://bulwark.test/svc/orders'))
})

test('the operator creates and updates users; bad input changes nothing', async () => {
  const bad = await operator(`${h.url}/admin/v1/users`, json({ username: 'frank', password: 'long-enough-password', roles: ['customer'], isAdmin: true }))
  assert.equal(bad.status, 400)
  assert.equal((await bad.json() as { code: string }).code, 'BW_VALIDATION_FAILED')
  assert.equal(await h.identity.context.users.byUsername('frank'), undefined)
  const short = await operator(`${h.url}/admin/v1/users`, json({ username: 'frank', password: 'short' }))
  assert.equal(short.status, 400)
  const created = await operator(`${h.url}/admin/v1/users`, json({ username: 'frank', password: 'long-enough-password', roles: ['customer'] }))
  assert.equal(created.status, 201)
  const user = await created.json() as Record<string, unknown>
  assert.equal(user.passwordHash, undefined)
  assert.equal((await operator(`${h.url}/admin/v1/users`, json({ username: 'frank', password: 'long-enough-password' }))).status, 409)
  const patched = await operator(`${h.url}/admin/v1/users/frank`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ roles: ['admin'] }) })
  assert.equal(patched.status, 200)
  const after = await patched.json() as { roles: string[]; mfaRequired: boolean }
  assert.deepEqual(after.roles, ['admin'])
  assert.equal(after.mfaRequired, true, 'role admin implies MFA')
  const totp = await (await operator(`${h.url}/admin/v1/users/frank/totp`, { method: 'POST' })).json() as { otpauthUri: string; qrDataUrl: string }
  assert.match(totp.otpauthUri, /^otpauth:\/\/totp\//)
  assert.match(totp.qrDataUrl, /^data:image\/png;base64,/)
  assert.ok(h.audit.events.some((e) => e.type === 'user.created') && h.audit.events.some((e) => e.type === 'user.updated'))
})

test('users can be locked by the operator or the audit service, nobody else', async () => {
  const orders = await h.workloadFetch('orders')
  assert.equal((await orders(`${h.url}/admin/v1/users/bob/lock`, json({ seconds: 60, reason: 'x' }))).status, 403)
  const auditSvc = await h.workloadFetch('audit')
  const locked = await auditSvc(`${h.url}/admin/v1/users/bob/lock`, json({ seconds: 600, reason: 'credential stuffing detector' }))
  assert.equal(locked.status, 200)
  assert.ok(await h.identity.context.lockout.lockedUntil('acct:bob'))
  assert.equal((await operator(`${h.url}/admin/v1/users/bob/unlock`, { method: 'POST' })).status, 200)
  assert.equal(await h.identity.context.lockout.lockedUntil('acct:bob'), undefined)
})

test('the revocation feed long-polls and wakes on a subject revocation', async () => {
  const gateway = await h.workloadFetch('gateway')
  const head = await (await gateway(`${h.url}/admin/v1/revocations?after=0`)).json() as { seq: number }
  const started = Date.now()
  const waiting = gateway(`${h.url}/admin/v1/revocations?after=${head.seq}&wait=10`).then((r) => r.json() as Promise<{ seq: number; entries: Array<{ kind: string; value: string; revokedAt: number }> }>)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const revoke = await operator(`${h.url}/admin/v1/subjects/bob/revoke`, { method: 'POST' })
  assert.equal(revoke.status, 200)
  const feed = await waiting
  assert.ok(Date.now() - started < 5000)
  assert.deepEqual(feed.entries.map((e) => [e.kind, e.value]), [['subject', (await h.identity.context.users.byUsername('bob'))!.id]])
  const clientRevoke = await (await operator(`${h.url}/admin/v1/subjects/shop-cli/revoke`, { method: 'POST' })).json() as { kind: string }
  assert.equal(clientRevoke.kind, 'client')
  assert.ok(feed.seq > head.seq)
  assert.equal((await operator(`${h.url}/admin/v1/subjects/nobody-at-all/revoke`, { method: 'POST' })).status, 404)
  // Through the gateway (proxied traffic) the admin API does not exist.
  const anonymous = await h.publicFetch(`${h.issuer}/admin/v1/revocations`)
  assert.equal(anonymous.status, 404)
})

test('signing keys rotate: the next key is published before it signs, the old one stays until its tokens expire', async () => {
  const before = await jwks()
  assert.equal(before.keys.length, 2)
  assert.ok(before.keys.every((k) => k.d === undefined))
  const oldToken = await ccToken()
  const oldKid = decodeProtectedHeader(oldToken).kid!
  const nextKid = before.keys.map((k) => k.kid).find((k) => k !== oldKid)!
  const rotated = await operator(`${h.url}/admin/v1/keys/rotate`, { method: 'POST' })
  assert.equal(rotated.status, 200)
  const during = await jwks()
  assert.equal(during.keys.length, 3)
  const newToken = await ccToken()
  assert.equal(decodeProtectedHeader(newToken).kid, nextKid, 'signs with the key that was already published')
  const keySet = createLocalJWKSet(during as never)
  await jwtVerify(oldToken, keySet, { issuer: h.issuer })
  await jwtVerify(newToken, keySet, { issuer: h.issuer })
  const introspected = await client.tokenIntrospection(await h.rp('reporting-job', client.ClientSecretBasic(job().clientSecret!)), oldToken)
  assert.equal(introspected.active, true)
  assert.ok(h.audit.events.some((e) => e.type === 'key.rotated'))
  // After the grace period the retired key leaves the JWKS.
  h.clock.advance(16 * 60_000)
  await h.identity.maintain()
  const later = await jwks()
  assert.equal(later.keys.length, 2)
  assert.ok(!later.keys.some((k) => k.kid === oldKid))
  assert.equal(decodeProtectedHeader(await ccToken()).kid, nextKid)
  h.clock.set(Date.now())
})

test('signing keys also rotate on their own once the period has passed (30 days by default), audited', async () => {
  const before = await jwks()
  const signing = decodeProtectedHeader(await ccToken()).kid!
  const staged = before.keys.map((k) => k.kid).find((k) => k !== signing)!
  await h.identity.maintain()
  assert.equal(decodeProtectedHeader(await ccToken()).kid, signing, 'nothing rotates before the period is over')
  h.clock.advance(30 * 86_400_000)
  await h.identity.maintain()
  assert.equal(decodeProtectedHeader(await ccToken()).kid, staged, 'the staged key, already published, now signs')
  const event = h.audit.events.filter((e) => e.type === 'key.rotated').at(-1)!
  assert.deepEqual([event.actor.kind, event.details?.scheduled, event.details?.current], ['service', true, staged])
  h.clock.set(Date.now())
})

test('the demo seed writes random credentials once, 0600, in the contract format, and keeps them on restart', async () => {
  const mode = statSync(h.credentialsPath).mode & 0o777
  assert.equal(mode, 0o600)
  const file = JSON.parse(readFileSync(h.credentialsPath, 'utf8'))
  assert.deepEqual(file.users.map((u: { username: string }) => u.username), ['alice', 'bob', 'admin'])
  assert.deepEqual(file.users[2].roles, ['admin'])
  assert.match(file.users[2].totpSecret, /^[A-Z2-7]{16,}$/)
  assert.equal(file.users[0].totpSecret, undefined)
  const shop = file.clients.find((c: { clientId: string }) => c.clientId === 'shop-cli')
  assert.equal(shop.public, true)
  assert.deepEqual(shop.redirectUris, ['http://127.0.0.1/callback'])
  assert.ok(shop.scopes.includes('openid') && shop.scopes.includes('offline_access'))
  const reporting = file.clients.find((c: { clientId: string }) => c.clientId === 'reporting-job')
  assert.equal(reporting.public, false)
  assert.deepEqual(reporting.scopes, ['orders:read:all'])
  assert.ok(reporting.clientSecret.length >= 40)
  assert.equal(await seedDemo(h.identity.context, h.credentialsPath), undefined)
  assert.equal(readFileSync(h.credentialsPath, 'utf8'), JSON.stringify(file, null, 2) + '\n')
})

test('the store holds no token, code, session id, password, client secret or TOTP secret in clear', async () => {
  const tokens = await client.clientCredentialsGrant(await h.rp('reporting-job', client.ClientSecretBasic(job().clientSecret!)), {})
  const files = [h.dbPath, `${h.dbPath}-wal`].map((p) => { try { return readFileSync(p) } catch { return Buffer.alloc(0) } })
  const haystack = Buffer.concat(files)
  const secrets = [job().clientSecret!, ...h.demo.users.map((u) => u.password), h.demo.users[2]!.totpSecret!, String(decodeJwt(tokens.access_token).jti)]
  for (const secret of secrets) assert.equal(haystack.includes(Buffer.from(secret)), false, 'found a secret in the database file')
})

test('a client registered with public keys authenticates with private_key_jwt (RFC 7523)', async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  const jwk = { ...await exportJWK(publicKey), kid: 'k1', alg: 'ES256', use: 'sig' }
  const created = await operator(`${h.url}/admin/v1/clients`, json({ clientId: 'batch-exporter', grantTypes: ['client_credentials'], scopes: ['orders:read:all'], jwks: { keys: [jwk] } }))
  assert.equal(created.status, 201)
  const body = await created.json() as Record<string, unknown>
  assert.equal(body.clientSecret, undefined)
  assert.equal(body.token_endpoint_auth_method, 'private_key_jwt')
  const rp = await h.rp('batch-exporter', client.PrivateKeyJwt({ key: privateKey, kid: 'k1' }))
  const tokens = await client.clientCredentialsGrant(rp, { scope: 'orders:read:all' })
  assert.equal(decodeJwt(tokens.access_token).client_id, 'batch-exporter')
  const other = await generateKeyPair('ES256')
  const impostor = await h.rp('batch-exporter', client.PrivateKeyJwt({ key: other.privateKey, kid: 'k1' }))
  await assert.rejects(client.clientCredentialsGrant(impostor, {}), (e: client.ResponseBodyError) => e.error === 'invalid_client')
  const withPrivate = await operator(`${h.url}/admin/v1/clients`, json({ clientId: 'leaky', grantTypes: ['client_credentials'], jwks: { keys: [await exportJWK(privateKey)] } }))
  assert.equal(withPrivate.status, 400)
  const sessions = await operator(`${h.url}/admin/v1/subjects/alice/sessions`)
  assert.equal(sessions.status, 200)
  assert.equal(typeof (await sessions.json() as { records: object }).records, 'object')
})

test('every audit event emitted here is a valid audit event', () => {
  assert.ok(h.audit.events.length > 0)
  for (const event of h.audit.events) assert.deepEqual(checkSchema(AuditEventSchema, structuredClone(event)), [], JSON.stringify(event))
})

test('a user\'s email and display name are sealed at rest and readable through the admin API', async () => {
  const created = await operator(`${h.url}/admin/v1/users`, json({ username: 'gwen', password: 'long-enough-password', roles: ['customer'], email: 'gwen.private@example.test', displayName: 'Gwendolyn Quux' }))
  assert.equal(created.status, 201)
  const user = await created.json() as { id: string; email?: string; displayName?: string }
  assert.equal(user.email, 'gwen.private@example.test')
  assert.equal(user.displayName, 'Gwendolyn Quux')
  const patched = await operator(`${h.url}/admin/v1/users/gwen`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'gwen.new@example.test' }) })
  assert.equal((await patched.json() as { email?: string }).email, 'gwen.new@example.test')
  const stored = Buffer.concat([h.dbPath, `${h.dbPath}-wal`].map((p) => { try { return readFileSync(p) } catch { return Buffer.alloc(0) } })).toString('latin1')
  for (const pii of ['gwen.private@example.test', 'gwen.new@example.test', 'Gwendolyn Quux']) assert.ok(!stored.includes(pii), `${pii} is in the database file`)
})

test('the users service may revoke a subject only with that subject\'s own exchanged token', async () => {
  const users = await h.workloadFetch('users')
  const alice = (await h.identity.context.users.byUsername('alice')) ?? (await h.identity.context.users.list())[0]!
  const revoke = (headers: Record<string, string> = {}) => users(`${h.url}/admin/v1/subjects/${alice.id}/revoke`, { method: 'POST', headers })
  const bare = await revoke()
  assert.equal(bare.status, 403, 'no token: refused')
  const job = await ccToken()
  const wrong = await revoke({ authorization: `Bearer ${job}` })
  assert.equal(wrong.status, 403, 'a token that is not alice\'s, for another audience: refused')
  const orders = await h.workloadFetch('orders')
  assert.equal((await orders(`${h.url}/admin/v1/subjects/${alice.id}/revoke`, { method: 'POST' })).status, 403, 'any other service: refused')
  assert.ok(!h.audit.events.some((e) => e.type === 'subject.revoked' && e.resource === `user:${alice.id}`), 'nothing was revoked')
})
