// Users over real mTLS with the real vault and default policies: profile
// self-service, mass assignment, PII never in plaintext on disk, export, and
// erasure by crypto-shredding. The admin directory (with the real identity's
// accounts) is in users.directory.test.ts.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Agent } from 'undici'
import { api, startTestPlatform, type TestPlatform, type TestRuntime } from '../../../../packages/sdk/test/service-support/index.ts'
import { createUsers, userKeyName, type Users } from '../src/index.ts'
import { openUsersStore } from '../src/store.ts'
import { createTransit } from '../src/transit.ts'

const EMAIL = 'alice.liddell@example.org'
const STREET = '42 Looking Glass Lane'
let p: TestPlatform
let users: Users
let rt: TestRuntime
let url: string
let gateway: Agent

before(async () => {
  p = await startTestPlatform({ vault: true })
  rt = await p.runtime('users')
  users = await createUsers({ emailIndexKey: 'users-email-index', defaultPageSize: 20, revokeTokensOnErase: true }, { rt, authorizer: p.authorizer })
  url = await p.serve('users', users.app)
  gateway = await p.client('gateway', 'users')
})
after(async () => {
  await p.close()
  await users.close()
})

const token = (sub: string, extra: { roles?: string[]; amr?: string[] } = {}) => p.identity.tokenFor('users', { sub, ...extra })
const me = async (sub: string, method = 'GET', body?: unknown) => api(gateway, url, method, '/users/me', { token: await token(sub), body })
const adminToken = () => token('admin', { roles: ['admin'], amr: ['pwd', 'otp'] })

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })
}

test('a new user gets an empty profile; PATCH sets displayName, email and address', async () => {
  const empty = await me('alice')
  assert.equal(empty.status, 200)
  assert.deepEqual([empty.body.id, empty.body.displayName, empty.body.email, empty.body.address], ['alice', null, null, null])
  const patched = await me('alice', 'PATCH', { displayName: 'Alice', email: EMAIL, address: { line1: STREET, city: 'Oxford', country: 'GB' } })
  assert.equal(patched.status, 200)
  assert.equal(patched.body.email, EMAIL)
  const again = await me('alice')
  assert.equal(again.body.displayName, 'Alice')
  assert.equal(again.body.address.line1, STREET)
  assert.equal((await me('alice', 'PATCH', { address: '1 Main St' })).body.address, '1 Main St')
  assert.equal((await me('alice', 'PATCH', { address: { line1: STREET } })).status, 200)
})

test('any other field in PATCH /users/me is a 400 and changes nothing (API3:2023 mass assignment)', async () => {
  const before = (await me('alice')).body
  for (const body of [{ roles: ['admin'] }, { id: 'bob' }, { displayName: 'A', isAdmin: true }, { email: 'not-an-email' }, {}, { address: { line1: 'x', owner: 'bob' } }, { displayName: 5 }]) {
    const res = await me('alice', 'PATCH', body)
    assert.equal(res.status, 400, JSON.stringify(body))
    assert.equal(res.body.code, 'BW_VALIDATION_FAILED')
  }
  assert.deepEqual((await me('alice')).body, before)
})

test('each caller only ever sees their own profile (API1:2023)', async () => {
  await me('bob', 'PATCH', { displayName: 'Bob', email: 'bob@example.org' })
  const bob = await me('bob')
  assert.equal(bob.body.id, 'bob')
  assert.equal(bob.body.email, 'bob@example.org')
  assert.equal(JSON.stringify(bob.body).includes(EMAIL), false)
})

test('emails and addresses are never in plaintext in any file', async () => {
  await users.store.sql.query('PRAGMA wal_checkpoint(FULL)')
  const files = filesUnder(p.home)
  assert.ok(files.some((f) => f.endsWith('users.db')))
  for (const file of files) {
    const bytes = readFileSync(file)
    for (const secret of [EMAIL, STREET, 'bob@example.org', EMAIL.toLowerCase()]) assert.equal(bytes.includes(Buffer.from(secret)), false, `${secret} in ${file}`)
  }
  const logs = rt.logs.join('\n')
  assert.equal(logs.includes(EMAIL) || logs.includes(STREET), false)
})

test('GET /users/me/export returns the caller\'s own data', async () => {
  const res = await api(gateway, url, 'GET', '/users/me/export', { token: await token('alice') })
  assert.equal(res.status, 200)
  assert.equal(res.body.subject, 'alice')
  assert.equal(res.body.profile.email, EMAIL)
  assert.match(String(res.headers['content-disposition']), /attachment/)
})

test('DELETE /users/me crypto-shreds: the key is destroyed, so even a backup copy no longer decrypts', async () => {
  await users.store.sql.query('PRAGMA wal_checkpoint(FULL)')
  const backup = join(p.home, 'users-backup.db')
  copyFileSync(rt.paths.database('users'), backup)
  const res = await me('alice', 'DELETE')
  assert.equal(res.status, 200)
  assert.equal(res.body.erased, true)
  // The test identity has no admin API: revocation is reported as not done rather than claimed.
  assert.equal(res.body.tokensRevoked, false)
  assert.equal((await p.vault!.transit.names()).includes(userKeyName('alice')), false)
  assert.ok((await p.vault!.transit.names()).includes(userKeyName('bob')))
  const copy = await openUsersStore({ sqlitePath: backup })
  const old = (await copy.get('alice'))!
  await copy.close()
  assert.ok(old.profile_ciphertext)
  const vault = rt.peer('vault')
  await assert.rejects(createTransit({ url: vault.url, dispatcher: vault.dispatcher }).decrypt(old.key_name, old.profile_ciphertext!, 'users-profile:alice'))
  const gone = await me('alice')
  assert.equal(gone.status, 410)
  assert.equal(gone.body.code, 'BW_USERS_ERASED')
  assert.equal((await me('alice', 'PATCH', { displayName: 'Back' })).status, 410)
  const dir = await api(gateway, url, 'GET', `/admin/users?email=${encodeURIComponent(EMAIL)}`, { token: await adminToken() })
  assert.deepEqual(dir.body.items, [])
  const event = rt.audit.events.find((e) => e.type === 'profile.erased')
  assert.equal(event?.actor.id, 'alice')
  assert.equal((await me('bob')).body.email, 'bob@example.org')
})

test('erasing a profile is audited as profile.erased: who, which profile, the outcome, and no PII', async () => {
  const sub = 'erin'
  assert.equal((await me(sub, 'PATCH', { displayName: 'Erin Example', email: 'erin.example@example.org', address: { line1: STREET, city: 'Leeds', country: 'GB' } })).status, 200)
  const before = rt.audit.events.length
  const res = await me(sub, 'DELETE')
  assert.equal(res.status, 200)
  const events = rt.audit.events.slice(before).filter((e) => e.type === 'profile.erased')
  assert.equal(events.length, 1, JSON.stringify(rt.audit.events.slice(before)))
  const event = events[0]!
  assert.deepEqual({ actor: event.actor, action: event.action, resource: event.resource, outcome: event.outcome }, {
    actor: { kind: 'user', id: sub, clientId: 'shop-cli' }, action: 'users.deleteMe', resource: `UserProfile::"${sub}"`, outcome: 'success',
  })
  assert.ok(event.requestId)
  const text = JSON.stringify(event)
  for (const pii of ['Erin Example', 'erin.example@example.org', STREET, 'Leeds']) assert.equal(text.includes(pii), false, `${pii} in the audit event`)
})
