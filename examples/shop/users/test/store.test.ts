// The users store on both engines (embedded SQLite and a real PostgreSQL
// from testkit), and two users replicas over mTLS on one PostgreSQL with the
// real vault: a profile saved through one is read through the other, two
// saves of different fields at both at once keep both, and an erasure at one
// is a 410 at the other. The database holds ciphertext and blind indexes only.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { postgresSkipReason, startPostgres, tempDir, type TestPostgres } from '@bulwark/testkit'
import { api, startTestPlatform } from '../../../../packages/sdk/test/service-support/index.ts'
import { createUsers, userKeyName } from '../src/index.ts'
import { openUsersStore, type UsersStoreOptions } from '../src/store.ts'
import { createTransit, type Transit } from '../src/transit.ts'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
const dir = tempDir('bulwark-users-store-')

before(async () => { if (!pgSkip) server = await startPostgres() })
after(async () => {
  await server?.stop()
  dir.remove()
})

const engines: Array<{ name: string; skip: string | false; place(): Promise<UsersStoreOptions> }> = [
  { name: 'sqlite', skip: false, place: async () => ({ sqlitePath: join(dir.path, `users-${Math.random().toString(36).slice(2)}.db`) }) },
  { name: 'postgres', skip: pgSkip, place: async () => ({ sqlitePath: 'unused', storage: { postgres: { url: await server!.createDatabase('users') } } }) },
]

for (const engine of engines) {
  test(`${engine.name}: profiles are created once, replaced only over what was read, erased for good, and found by blind index`, { skip: engine.skip }, async () => {
    const store = await openUsersStore(await engine.place())
    try {
      const rows = await Promise.all([0, 1, 2].map(() => store.create('ann', Date.UTC(2026, 0, 1))))
      assert.equal(new Set(rows.map((r) => r.seq)).size, 1, 'created at once, one row')
      assert.equal(rows[0]!.key_name, userKeyName('ann'))
      assert.equal(rows[0]!.profile_ciphertext, null)
      assert.equal(await store.update('ann', 'bw:v1:one', 'idx-ann', Date.now(), null), true)
      // A writer that read before that update loses, rather than undoing it.
      assert.equal(await store.update('ann', 'bw:v1:stale', 'idx-stale', Date.now(), null), false)
      assert.equal(await store.update('ann', 'bw:v1:two', 'idx-ann', Date.now(), 'bw:v1:one'), true)
      assert.equal((await store.get('ann'))!.profile_ciphertext, 'bw:v1:two')
      await store.create('bob', Date.now())
      await store.update('bob', 'bw:v1:bob', 'idx-shared', Date.now(), null)
      await store.create('cy', Date.now())
      await store.update('cy', 'bw:v1:cy', 'idx-shared', Date.now(), null)
      const first = await store.list(1, 0, 'idx-shared')
      assert.deepEqual([first.rows.map((r) => r.id), first.more], [['bob'], true])
      const rest = await store.list(1, first.rows[0]!.seq, 'idx-shared')
      assert.deepEqual([rest.rows.map((r) => r.id), rest.more], [['cy'], false])
      await store.erase('ann', Date.now())
      const erased = (await store.get('ann'))!
      assert.deepEqual([erased.profile_ciphertext, erased.email_index, typeof erased.erased_at], [null, null, 'string'])
      assert.equal(await store.update('ann', 'bw:v1:back', 'idx-ann', Date.now(), null), false, 'an erased profile stays erased')
      assert.deepEqual((await store.list(10, 0)).rows.map((r) => r.id), ['bob', 'cy'])
    } finally {
      await store.close()
    }
  })
}

/** Transit whose first `n` encrypts wait for each other (or 5 s): both saves have read the profile before either writes. */
function heldAtEncrypt(transit: Transit, gate: { waiting: Array<() => void>; n: number }): Transit {
  return {
    ...transit,
    async encrypt(...args) {
      if (gate.n > 0) {
        await new Promise<void>((resolve) => {
          gate.waiting.push(resolve)
          if (gate.waiting.length >= gate.n) {
            gate.n = 0
            for (const go of gate.waiting.splice(0)) go()
          } else setTimeout(resolve, 5000).unref()
        })
      }
      return await transit.encrypt(...args)
    },
  }
}

test('postgres: two users replicas on one database share profiles, keep both of two saves made at once, and honour an erasure made at the other', { skip: pgSkip }, async () => {
  const storage = { postgres: { url: await server!.createDatabase('userssvc') } }
  const p = await startTestPlatform({ vault: true })
  const gate = { waiting: [] as Array<() => void>, n: 0 }
  const replicas = await Promise.all([0, 1].map(async () => {
    const rt = await p.runtime('users')
    const vault = rt.peer('vault')
    const transit = heldAtEncrypt(createTransit({ url: vault.url, dispatcher: vault.dispatcher }), gate)
    return await createUsers({ emailIndexKey: 'users-email-index', defaultPageSize: 20, revokeTokensOnErase: false }, {
      rt: { ...rt, bootstrap: { ...rt.bootstrap, storage } }, authorizer: p.authorizer, transit,
    })
  }))
  try {
    const [a, b] = replicas
    assert.match(a!.store.location, /^postgres 127\.0\.0\.1:\d+\/userssvc_[0-9a-f]+ schema bulwark_users$/)
    const urlA = await p.serve('users', a!.app)
    const urlB = await p.serve('users', b!.app)
    const gateway = await p.client('gateway', 'users')
    const me = async (url: string, method = 'GET', body?: unknown, sub = 'alice') => api(gateway, url, method, '/users/me', { token: await p.identity.tokenFor('users', { sub }), body })

    assert.equal((await me(urlA, 'PATCH', { displayName: 'Alice' })).status, 200)
    assert.equal((await me(urlB)).body.displayName, 'Alice')

    // Different fields saved at A and at B at once: neither save undoes the other.
    gate.n = 2
    const [atA, atB] = await Promise.all([me(urlA, 'PATCH', { email: 'alice@example.org' }), me(urlB, 'PATCH', { address: '1 Main St' })])
    assert.deepEqual([atA.status, atB.status], [200, 200], JSON.stringify([atA.body, atB.body]))
    assert.equal(gate.waiting.length, 0)
    for (const url of [urlA, urlB]) {
      const profile = (await me(url)).body
      assert.deepEqual([profile.displayName, profile.email, profile.address], ['Alice', 'alice@example.org', '1 Main St'], url)
    }
    // The shared database holds ciphertext and the keyed index, never the address.
    const row = await a!.store.sql.one<Record<string, unknown>>('SELECT * FROM profiles WHERE id = ?', ['alice'])
    assert.equal(JSON.stringify(row).includes('alice@example.org') || JSON.stringify(row).includes('Main St'), false)
    assert.match(String(row!.profile_ciphertext), /^bw:v/)

    // Erased at B (key destroyed, row wiped): A answers 410 too, even though it had the key in its cache.
    assert.equal((await me(urlB, 'DELETE')).status, 200)
    assert.equal((await p.vault!.transit.names()).includes(userKeyName('alice')), false)
    for (const url of [urlA, urlB]) {
      assert.equal((await me(url)).status, 410, url)
      assert.equal((await me(url, 'PATCH', { displayName: 'Back' })).status, 410, url)
    }
  } finally {
    await p.close()
    for (const r of replicas) await r.close()
  }
})
