// The admin's user directory over the real identity: every account identity
// holds is listed (id, username, roles) with the profile fields it has, even
// when nobody has called the users service yet; pagination walks every
// account; email search (blind index) still finds a profile. Identity lets
// svc/users read the account list and nothing else of its admin API.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Agent } from 'undici'
import { api, startTestPlatform, type TestPlatform, type TestRuntime } from '../../../../packages/sdk/test/service-support/index.ts'
import { createUsers, type Users } from '../src/index.ts'
import { startRealIdentity, type RealIdentity } from './real-identity.ts'

let p: TestPlatform
let idp: RealIdentity
let users: Users
let rt: TestRuntime
let url: string
let gateway: Agent

before(async () => {
  p = await startTestPlatform({ vault: true })
  idp = await startRealIdentity(p)
  rt = await p.runtime('users')
  users = await createUsers({ emailIndexKey: 'users-email-index', defaultPageSize: 20, revokeTokensOnErase: false }, { rt, authorizer: p.authorizer })
  url = await p.serve('users', users.app)
  gateway = await p.client('gateway', 'users')
})
after(async () => {
  await p.close()
  await users.close()
  await idp.close()
})

type Item = { id: string; username: string; roles: string[]; displayName: string | null; email: string | null; createdAt: string }
const admin = async () => idp.tokenFor('users', { sub: idp.idOf('admin'), roles: ['admin'], amr: ['pwd', 'otp'] })
const directory = async (query = '') => api(gateway, url, 'GET', `/admin/users${query}`, { token: await admin() })

test('a fresh users service lists every account identity holds, with id, username and roles', async () => {
  assert.equal((await users.store.list(100, 0)).rows.length, 0, 'nobody has called the users service yet')
  const res = await directory()
  assert.equal(res.status, 200)
  const items = res.body.items as Item[]
  assert.deepEqual(items.map((u) => [u.username, u.id, u.roles]), [
    ['admin', idp.idOf('admin'), ['admin']], ['alice', idp.idOf('alice'), ['customer']], ['bob', idp.idOf('bob'), ['customer']],
  ])
  for (const item of items) {
    assert.deepEqual([item.displayName, item.email], [null, null])
    assert.ok(!Number.isNaN(Date.parse(item.createdAt)))
    assert.deepEqual(Object.keys(item).sort(), ['createdAt', 'disabled', 'displayName', 'email', 'id', 'roles', 'username'], 'no hash, no TOTP')
  }
  assert.equal(res.body.nextCursor, null)
  const read = idp.audit.events.find((e) => e.type === 'account.listed')
  assert.equal(read?.actor.spiffeId, `spiffe://${p.ca.trustDomain}/svc/users`)
  assert.ok(rt.audit.events.some((e) => e.type === 'users.listed' && e.actor.id === idp.idOf('admin') && e.details?.count === 3))
})

test('limit=1 walks every account page by page, and the profile fields a user has are merged in', async () => {
  const alice = await idp.tokenFor('users', { sub: idp.idOf('alice') })
  assert.equal((await api(gateway, url, 'PATCH', '/users/me', { token: alice, body: { displayName: 'Alice', email: 'alice.dir@example.org' } })).status, 200)
  const seen: Item[] = []
  let cursor: string | null = null
  for (let pages = 0; pages < 10; pages++) {
    const res = await directory(`?limit=1${cursor ? `&cursor=${cursor}` : ''}`)
    assert.equal(res.status, 200)
    assert.equal(res.body.items.length, 1)
    seen.push(...res.body.items)
    cursor = res.body.nextCursor
    if (!cursor) break
  }
  assert.deepEqual(seen.map((u) => u.username), ['admin', 'alice', 'bob'])
  const merged = seen.find((u) => u.username === 'alice')!
  assert.deepEqual([merged.displayName, merged.email], ['Alice', 'alice.dir@example.org'])
  assert.equal((await directory('?cursor=not-a-cursor')).body.code, 'BW_USERS_BAD_CURSOR')
})

test('admins find a user by email through the blind index (case-insensitive), never by scanning plaintext', async () => {
  const res = await directory(`?email=${encodeURIComponent(' ALICE.dir@example.org')}`)
  assert.equal(res.status, 200)
  assert.deepEqual(res.body.items.map((u: Item) => [u.username, u.id, u.roles, u.email]), [['alice', idp.idOf('alice'), ['customer'], 'alice.dir@example.org']])
  assert.deepEqual((await directory('?email=nobody%40example.org')).body.items, [])
  // What the users service stores is ciphertext and a keyed index, never the address itself.
  const row = (await users.store.get(idp.idOf('alice')))!
  assert.equal(JSON.stringify(row).includes('alice.dir@example.org'), false)
})

test('the user directory is for admins with MFA (API5:2023 BFLA)', async () => {
  const customer = await api(gateway, url, 'GET', '/admin/users', { token: await idp.tokenFor('users', { sub: idp.idOf('bob') }) })
  assert.equal(customer.status, 403)
  assert.equal(customer.body.code, 'BW_AUTHZ_DENIED')
  assert.ok(rt.audit.events.some((e) => e.type === 'authz.denied' && e.action === 'users.listUsers' && e.actor.id === idp.idOf('bob')))
  const noMfa = await api(gateway, url, 'GET', '/admin/users', { token: await idp.tokenFor('users', { sub: idp.idOf('admin'), roles: ['admin'], amr: ['pwd'] }) })
  assert.equal(noMfa.status, 403)
  assert.equal((await directory('?limit=101')).status, 400)
})

test('identity lets the users service read the account list and nothing else of its admin API', async () => {
  const asUsers = await p.client('users', 'identity')
  const list = await api(asUsers, idp.url, 'GET', '/admin/v1/accounts?limit=2')
  assert.equal(list.status, 200)
  assert.equal(list.body.items.length, 2)
  assert.equal(JSON.stringify(list.body).includes('passwordHash') || JSON.stringify(list.body).includes('totp'), false)
  for (const [method, path] of [['GET', '/admin/v1/users'], ['GET', `/admin/v1/users/${idp.idOf('alice')}`], ['POST', '/admin/v1/users/alice/lock'], ['GET', '/admin/v1/clients']] as const) {
    const res = await api(asUsers, idp.url, method, path, method === 'POST' ? { body: { seconds: 60, reason: 'x' } } : {})
    assert.equal(res.status, 403, `${method} ${path}`)
  }
  const asOrders = await p.client('orders', 'identity')
  assert.equal((await api(asOrders, idp.url, 'GET', '/admin/v1/accounts')).status, 403)
  assert.equal((await api(asUsers, idp.url, 'GET', '/admin/v1/accounts?role=admin')).status, 400)
})

test('when identity does not answer, the directory fails closed (502) instead of looking empty', async () => {
  const real = p.peers.identity!
  p.peers.identity = 'https://127.0.0.1:1'
  try {
    const res = await directory()
    assert.equal(res.status, 502)
    assert.equal(res.body.items, undefined)
  } finally {
    p.peers.identity = real
  }
  assert.equal((await directory()).status, 200)
})
