// Identity's store on both engines (its SQLite file and a real PostgreSQL from
// testkit): the oidc-provider adapter, users, lockout, the revocation feed and
// signing keys behave the same, nothing secret is stored in the clear, and on
// PostgreSQL two stores (two replicas) racing on one database stay correct.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createManualClock, type SqlStore } from '@bulwark/core'
import { postgresSkipReason, startPostgres, tempDir, type TestPostgres } from '@bulwark/testkit'
import { openIdentityStore, type IdentityStoreOptions } from '../src/store/database.ts'
import { createAdapterClass } from '../src/provider/adapter.ts'
import { createSigningKeys } from '../src/provider/keys.ts'
import { createKeyedHash, createSealer, deriveKey } from '../src/store/crypto.ts'
import { createClientStore } from '../src/store/clients.ts'
import { createUserStore } from '../src/store/users.ts'
import { createRevocationFeed } from '../src/store/revocations.ts'
import { createLockout } from '../src/users/lockout.ts'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
const dir = tempDir('bulwark-identity-store-')

before(async () => { if (!pgSkip) server = await startPostgres() })
after(async () => {
  await server?.stop()
  dir.remove()
})

const engines: Array<{ name: string; skip: string | false; place(): Promise<IdentityStoreOptions> }> = [
  { name: 'sqlite', skip: false, place: async () => ({ sqlitePath: join(dir.path, `identity-${randomBytes(4).toString('hex')}.db`) }) },
  { name: 'postgres', skip: pgSkip, place: async () => ({ sqlitePath: 'unused', storage: { postgres: { url: await server!.createDatabase('identity') } } }) },
]

const masterKey = randomBytes(32)
const clock = createManualClock(Date.UTC(2026, 0, 1))
const lockoutPolicy = { maxFailures: 10, windowSeconds: 900, lockSeconds: 900, freeFailures: 3, maxDelaySeconds: 30 }

/** One replica's view of the store: the pieces identity builds over it. */
function pieces(db: SqlStore, revoked: string[] = []) {
  const hash = createKeyedHash(deriveKey(masterKey, 'ids'))
  const clients = createClientStore(db, { trustDomain: 'bulwark.test', clock })
  const Adapter = createAdapterClass({ db, hash, sealer: createSealer(deriveKey(masterKey, 'adapter')), clock, clients, revokeGrant: async (grantId) => { revoked.push(grantId) } })
  return {
    Adapter, clients,
    users: createUserStore(db, { sealer: createSealer(deriveKey(masterKey, 'totp')), clock }),
    feed: createRevocationFeed(db, clock),
    lockout: createLockout(db, lockoutPolicy, clock),
    keys: createSigningKeys(db, { alg: 'ES256', sealer: createSealer(deriveKey(masterKey, 'signing-keys')), clock, graceSeconds: 900 }),
  }
}

/** Everything the database holds, as text (PostgreSQL: every row of every identity table). */
async function dump(db: SqlStore, place: IdentityStoreOptions): Promise<string> {
  if (db.dialect === 'sqlite') return [place.sqlitePath, `${place.sqlitePath}-wal`].map((p) => { try { return readFileSync(p).toString('latin1') } catch { return '' } }).join('')
  const tables = ['oidc', 'users', 'clients', 'login_failures', 'lockouts', 'revocations', 'signing_keys', 'grant_jtis', 'mfa_pending']
  return JSON.stringify(await Promise.all(tables.map((t) => db.all(`SELECT * FROM ${t}`))))
}

for (const engine of engines) {
  test(`${engine.name}: the adapter stores records under hashed ids, finds them by uid and user code, and consumes a code once`, { skip: engine.skip }, async () => {
    const place = await engine.place()
    const db = await openIdentityStore(place)
    try {
      const revoked: string[] = []
      const { Adapter } = pieces(db, revoked)
      const codes = new Adapter('AuthorizationCode')
      const code = `code-${randomBytes(16).toString('base64url')}`
      await codes.upsert(code, { grantId: 'grant-1', accountId: 'acct-1', scope: 'openid' }, 60)
      assert.deepEqual(await codes.find(code), { grantId: 'grant-1', accountId: 'acct-1', scope: 'openid' })
      await codes.consume(code)
      assert.equal(typeof (await codes.find(code))!.consumed, 'number')
      await assert.rejects(codes.consume(code), (error: Error & { error?: string; error_detail?: string }) =>
        error.error === 'invalid_grant' && error.error_detail === 'authorization code already consumed')
      assert.deepEqual(revoked, ['grant-1'], 'the second redemption revokes the grant')
      assert.equal(await codes.find(code), undefined, 'and the code is gone')

      const interactions = new Adapter('Interaction')
      const uid = `uid-${randomBytes(8).toString('hex')}`
      await interactions.upsert(uid, { uid, returnTo: '/x' }, 60)
      assert.equal((await interactions.findByUid(uid))!.returnTo, '/x')
      const devices = new Adapter('DeviceCode')
      await devices.upsert('dc-1', { userCode: 'ABCD-EFGH', grantId: 'grant-2' }, 60)
      assert.equal((await devices.findByUserCode('ABCD-EFGH'))!.grantId, 'grant-2')
      await devices.revokeByGrantId('grant-2')
      assert.equal(await devices.findByUserCode('ABCD-EFGH'), undefined)
      clock.advance(61_000)
      assert.equal(await interactions.findByUid(uid), undefined, 'expired records are not found')
      const stored = await dump(db, place)
      for (const secret of [code, uid, 'ABCD-EFGH', 'returnTo']) assert.ok(!stored.includes(secret), `${secret} is not stored in the clear`)
    } finally {
      await db.close()
    }
  })

  test(`${engine.name}: users, TOTP steps, lockout, the revocation feed and sealed signing keys`, { skip: engine.skip }, async () => {
    const place = await engine.place()
    const db = await openIdentityStore(place)
    try {
      const { users, feed, lockout, keys, clients } = pieces(db)
      const ann = await users.create({ username: 'ann', passwordHash: 'argon2-hash', roles: ['customer'], email: 'ann@example.test', totpSecret: 'JBSWY3DPEHPK3PXP' })
      assert.equal((await users.byUsername('ann'))!.id, ann.id)
      assert.equal(await users.byUsername('ann\u0000'), undefined, 'a NUL is looked up as nothing, on both engines')
      assert.equal((await users.update(ann.id, { roles: ['admin'] }))!.mfaRequired, true)
      assert.equal((await users.byId(ann.id))!.email, 'ann@example.test')
      assert.equal(await users.acceptTotpStep(ann.id, 100), true)
      assert.equal(await users.acceptTotpStep(ann.id, 100), false, 'the same step twice is a replay')
      assert.deepEqual((await users.accounts(10, '', [ann.id, 'nobody'])).accounts.map((a) => a.username), ['ann'])

      for (let i = 0; i < 9; i++) assert.deepEqual(await lockout.fail(['acct:ann']), [])
      assert.deepEqual(await lockout.fail(['acct:ann']), ['acct:ann'], 'the tenth failure locks')
      assert.equal((await lockout.check(['acct:ann'])).allowed, false)
      await lockout.unlock('acct:ann')
      assert.deepEqual(await lockout.check(['acct:ann']), { allowed: true })

      const first = await feed.publish('subject', ann.id, 600)
      const second = await feed.publish('jti', 'jti-1', 600)
      assert.ok(second.seq > first.seq)
      assert.deepEqual((await feed.after(0)).entries.map((e) => e.value), [ann.id, 'jti-1'])
      assert.equal((await feed.after(second.seq)).seq, second.seq)
      assert.equal(await feed.isRevoked({ jti: 'jti-1' }), true)
      assert.equal(await feed.isRevoked({ sub: ann.id, iat: Math.floor(clock.now() / 1000) }), true)
      assert.equal(await feed.isRevoked({ sub: ann.id, iat: Math.floor(clock.now() / 1000) - 10 }), true)
      assert.equal(await feed.isRevoked({ sub: 'someone-else' }), false)

      await clients.create({ client_id: 'app', client_secret: 'the-client-secret-value', grant_types: ['client_credentials'] })
      assert.equal((await clients.get('app'))!.client_secret_hashed, true)
      assert.equal(await keys.ensure(), true)
      assert.equal(await keys.ensure(), false)
      const before = await keys.list()
      assert.deepEqual(before.map((k) => k.state).sort(), ['current', 'next'])
      const rotated = await keys.rotate()
      assert.equal(rotated.find((k) => k.state === 'current')!.kid, before.find((k) => k.state === 'next')!.kid)
      const jwks = await keys.jwks()
      assert.equal(jwks[0]!.kid, rotated.find((k) => k.state === 'current')!.kid)
      const stored = await dump(db, place)
      for (const jwk of jwks) assert.ok(!stored.includes(String(jwk.d)), 'private keys are sealed')
      for (const secret of ['the-client-secret-value', 'JBSWY3DPEHPK3PXP', 'ann@example.test']) assert.ok(!stored.includes(secret), `${secret} is not stored in the clear`)
    } finally {
      await db.close()
    }
  })
}

/** Two replicas: two stores (two connection pools) on one PostgreSQL database. */
async function twoReplicas(): Promise<[SqlStore, SqlStore]> {
  const place = await engines[1]!.place()
  const a = await openIdentityStore(place)
  return [a, await openIdentityStore(place)]
}

test('postgres: a code redeemed at two replicas at once is consumed by exactly one of them', { skip: pgSkip }, async () => {
  const [a, b] = await twoReplicas()
  try {
    const revoked: string[] = []
    const [A, B] = [pieces(a, revoked).Adapter, pieces(b, revoked).Adapter]
    for (let round = 0; round < 10; round++) {
      const code = `code-${round}`
      await new A('AuthorizationCode').upsert(code, { grantId: `grant-${round}` }, 60)
      const outcomes = await Promise.allSettled([new A('AuthorizationCode').consume(code), new B('AuthorizationCode').consume(code)])
      assert.deepEqual(outcomes.map((o) => o.status).sort(), ['fulfilled', 'rejected'], `round ${round}`)
    }
    assert.equal(revoked.length, 10, 'every losing redemption revoked its grant')
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test('postgres: failed logins arriving at two replicas at once are all counted and lock the account exactly once', { skip: pgSkip }, async () => {
  const [a, b] = await twoReplicas()
  try {
    const [la, lb] = [pieces(a).lockout, pieces(b).lockout]
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? la : lb).fail(['acct:carol', 'ip:192.0.2.7'])))
    const locks = results.flat()
    assert.deepEqual(locks.sort(), ['acct:carol', 'ip:192.0.2.7'], 'each key reported locked once')
    assert.equal((await a.one<{ n: number }>("SELECT COUNT(*) AS n FROM login_failures WHERE key = 'acct:carol'"))!.n, 20)
    assert.equal((await lb.check(['acct:carol'])).allowed, false)
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test('postgres: replicas starting at once make one current and one next signing key, and a due rotation happens once', { skip: pgSkip }, async () => {
  const [a, b] = await twoReplicas()
  try {
    const [ka, kb] = [pieces(a).keys, pieces(b).keys]
    await Promise.all([ka.ensure(), kb.ensure(), ka.ensure(), kb.ensure()])
    const keys = await kb.list()
    assert.deepEqual(keys.map((k) => k.state).sort(), ['current', 'next'])
    clock.advance(31 * 86_400_000)
    const rotations = await Promise.all([ka.rotateIfDue(30 * 86_400_000), kb.rotateIfDue(30 * 86_400_000)])
    assert.equal(rotations.filter(Boolean).length, 1, 'one replica rotates')
    assert.deepEqual((await ka.list()).map((k) => k.state).sort(), ['current', 'next', 'retired'])
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test('postgres: a reader of the revocation feed misses no entry while two replicas publish at once', { skip: pgSkip }, async () => {
  const [a, b] = await twoReplicas()
  try {
    const [fa, fb] = [pieces(a).feed, pieces(b).feed]
    const seen = new Set<string>()
    let position = 0
    let publishing = true
    const reader = (async () => {
      while (publishing || (await fb.after(position)).entries.length > 0) {
        const page = await fb.after(position)
        for (const entry of page.entries) seen.add(entry.value)
        position = page.seq
      }
    })()
    await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? fa : fb).publish('jti', `jti-${i}`, 600)))
    publishing = false
    await reader
    assert.equal(seen.size, 200, `the reader saw ${seen.size} of 200 entries`)
    // A waiter at one replica hears of a publish at the other (polling), well within a second.
    const head = (await fb.after(position)).seq
    const started = Date.now()
    const waiting = fb.wait(head, 5000)
    await fa.publish('subject', 'dave', 600)
    await waiting
    assert.ok(Date.now() - started < 1000, `woken after ${Date.now() - started} ms`)
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test('postgres: a TOTP code accepted at two replicas at once is accepted once', { skip: pgSkip }, async () => {
  const [a, b] = await twoReplicas()
  try {
    const [ua, ub] = [pieces(a).users, pieces(b).users]
    const erin = await ua.create({ username: 'erin', passwordHash: 'h', roles: ['customer'] })
    for (let step = 1; step <= 10; step++) {
      const accepted = await Promise.all([ua.acceptTotpStep(erin.id, step), ub.acceptTotpStep(erin.id, step)])
      assert.deepEqual(accepted.sort(), [false, true], `step ${step}`)
    }
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})
