// Test fixture: every password, secret and token in this file is a made-up test value.
// The vault on both engines (its SQLite file, and a real PostgreSQL from
// testkit), and two vault replicas on one PostgreSQL behind real mTLS: what
// one writes the other reads at once, check-and-set conflicts are decided
// across them, key rotations and deletions at one apply at the other, and
// neither the master key nor a KEK nor a secret's value is ever in the database.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { hkdfSync } from 'node:crypto'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createManualClock, createMemoryAuditSink, createSilentLogger, homePaths, type BootstrapMessage } from '@bulwark/core'
import { createTestCa, findPostgresBinaries, postgresSkipReason, startPostgres, tempDir, type TestPostgres } from '@bulwark/testkit'
import { createVault } from '../src/server.ts'
import { loadVaultConfig } from '../src/config.ts'
import { startVault, type Harness } from './helpers.ts'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
const dir = tempDir('bulwark-vault-store-')

before(async () => { if (!pgSkip) server = await startPostgres() })
after(async () => {
  await server?.stop()
  dir.remove()
})

const b64 = (s: string) => Buffer.from(s).toString('base64')
const engines: Array<{ name: string; skip: string | false; storage(): Promise<BootstrapMessage['storage']> }> = [
  { name: 'sqlite', skip: false, storage: async () => undefined },
  { name: 'postgres', skip: pgSkip, storage: async () => ({ postgres: { url: await server!.createDatabase('vault') } }) },
]

/** Everything the engine keeps, as text: the SQLite file and its WAL, or a pg_dump of the database. */
function storedBytes(home: string, storage: BootstrapMessage['storage']): string {
  const url = storage?.postgres?.url
  if (!url) {
    const file = homePaths(home).database('vault')
    return [file, `${file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f).toString('latin1')).join('')
  }
  const parsed = new URL(url)
  // pg_dump sits beside the server binaries (PATH may hold links to them).
  const pgCtl = findPostgresBinaries()!.pgCtl
  const pgDump = [join(dirname(pgCtl), 'pg_dump'), join(dirname(realpathSync(pgCtl)), 'pg_dump')].find((p) => existsSync(p))
  assert.ok(pgDump, 'pg_dump is installed beside pg_ctl')
  const out = spawnSync(pgDump, ['-h', parsed.hostname, '-p', parsed.port, '-U', decodeURIComponent(parsed.username), '--no-owner', parsed.pathname.slice(1)], {
    encoding: 'latin1', env: { ...process.env, PGPASSWORD: decodeURIComponent(parsed.password) }, maxBuffer: 64 * 1024 * 1024,
  })
  assert.equal(out.status, 0, `${String(out.error)} ${out.stderr}`)
  assert.match(out.stdout, /CREATE TABLE bulwark_vault\.kv_versions/)
  return out.stdout
}

for (const engine of engines) {
  test(`${engine.name}: versions, check-and-set, soft delete, transit and KEK rotation; the master key, KEKs and values never reach the database`, { skip: engine.skip }, async () => {
    using home = tempDir('bulwark-vault-engine-')
    const storage = await engine.storage()
    const deps = { log: createSilentLogger(), audit: createMemoryAuditSink(), clock: createManualClock(Date.UTC(2026, 0, 1)), home: home.path, storage }
    const vault = await createVault(loadVaultConfig({ maxVersions: 3 }, {}), deps)
    try {
      assert.equal(vault.store.dialect, engine.name)
      const canary = 'canary-Secret-Value-7f3a9c'
      assert.equal((await vault.kv.put('app/db', { password: canary }, { actor: 'op' })).version, 1)
      await assert.rejects(vault.kv.put('app/db', { password: 'x' }, { cas: 0, actor: 'op' }), { code: 'BW_VAULT_CAS_MISMATCH' })
      for (let v = 2; v <= 4; v++) await vault.kv.put('app/db', { password: `p${v}` }, { cas: v - 1, actor: 'op' })
      assert.deepEqual((await vault.kv.metadata('app/db')).versions.map((v) => v.version), [2, 3, 4], 'pruned to maxVersions')
      await vault.kv.softDelete('app/db', 'op')
      await assert.rejects(vault.kv.get('app/db'), { code: 'BW_VAULT_VERSION_DELETED' })
      await vault.kv.undelete('app/db', [4], 'op')
      assert.deepEqual((await vault.kv.get('app/db')).data, { password: 'p4' })
      await vault.kv.destroy('app/db', [3], 'op')
      await assert.rejects(vault.kv.get('app/db', 3), { code: 'BW_VAULT_VERSION_DESTROYED' })
      await vault.kv.put('app/z', { a: 1 }, { actor: 'op' })
      await vault.kv.put('app/sub/y', { a: 1 }, { actor: 'op' })
      await vault.kv.put('apple', { a: 1 }, { actor: 'op' })
      assert.deepEqual(await vault.kv.list('app/'), ['db', 'sub/', 'z'])

      const created = await vault.transit.create('shop-t', 'op')
      assert.equal(created.created, true)
      assert.equal((await vault.transit.create('shop-t', 'op')).created, false)
      const ct1 = await vault.transit.encrypt('shop-t', Buffer.from(canary))
      assert.equal((await vault.transit.rotate('shop-t')).latestVersion, 2)
      assert.match(await vault.transit.encrypt('shop-t', Buffer.from('x')), /^bw:v2:/)
      assert.equal((await vault.transit.decrypt('shop-t', ct1)).toString(), canary)

      assert.equal(await vault.keyring.rotate(), 2)
      assert.ok(await vault.kv.staleCount() > 0)
      await vault.kv.rewrapAll()
      await vault.transit.rewrapKeys()
      assert.equal(await vault.kv.staleCount(), 0)
      assert.deepEqual((await vault.kv.get('app/db')).data, { password: 'p4' })
      assert.equal((await vault.transit.decrypt('shop-t', ct1)).toString(), canary)
      await vault.queue.drain()

      // The master key stays in its file: not its bytes, not its base64, not a KEK derived from it, not a value.
      const masterB64 = readFileSync(homePaths(home.path).masterKey, 'utf8').trim()
      const master = Buffer.from(masterB64, 'base64')
      const salts = await vault.store.all<{ salt: Uint8Array }>('SELECT salt FROM kek ORDER BY version')
      assert.equal(salts.length, 2)
      const keks = salts.map((r) => Buffer.from(hkdfSync('sha256', master, r.salt, 'bulwark/vault/kek', 32)))
      const stored = storedBytes(home.path, storage)
      for (const [what, needle] of [
        ['master key (base64)', masterB64], ['master key (hex)', master.toString('hex')], ['master key (raw)', master.toString('latin1')],
        ...keks.flatMap((k, i) => [[`KEK v${i + 1} (hex)`, k.toString('hex')], [`KEK v${i + 1} (raw)`, k.toString('latin1')]]),
        ['secret value', canary], ['secret value (hex)', Buffer.from(canary).toString('hex')],
      ] as const) {
        assert.equal(stored.includes(needle), false, `${what} found in the ${engine.name} store`)
      }
      assert.ok(stored.includes('app/db'), 'paths are stored in the clear (the search is looking at the right data)')
    } finally {
      await vault.close()
    }
  })
}

/** Two vault replicas, each its own process-like instance with its own mTLS listener, on one database and one master key file. */
async function twoReplicas(): Promise<[Harness, Harness]> {
  const storage = { postgres: { url: await server!.createDatabase('vaultrep') } }
  const ca = await createTestCa()
  const a = await startVault({}, { ca, home: dir.path, storage })
  const b = await startVault({}, { ca, home: dir.path, storage })
  return [a, b]
}

test('postgres: a secret written through one vault replica is read through the other at once', { skip: pgSkip }, async () => {
  const [a, b] = await twoReplicas()
  try {
    const opA = await a.operator()
    const opB = await b.operator()
    for (let i = 1; i <= 5; i++) {
      assert.equal((await opA.call('PUT', '/v1/kv/data/shop/orders/db', { data: { password: `pw-${i}` } })).body.version, i)
      const read = await opB.call('GET', '/v1/kv/data/shop/orders/db')
      assert.equal(read.status, 200)
      assert.deepEqual([read.body.version, read.body.data.password], [i, `pw-${i}`])
    }
    await opB.call('DELETE', '/v1/kv/data/shop/orders/db')
    assert.equal((await opA.call('GET', '/v1/kv/data/shop/orders/db')).body.code, 'BW_VAULT_VERSION_DELETED')
    assert.deepEqual((await opA.call('GET', '/v1/kv/list/shop/')).body.keys, ['orders/'])
    // A long-poll at B wakes for a write at A (no shared memory between them).
    const revision = (await opB.call('GET', '/v1/kv/data/shop/orders/db?version=4')).headers.etag as string
    const waiting = opB.call('GET', '/v1/kv/data/shop/orders/db?wait=20', undefined, { 'if-none-match': revision })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const written = Date.now()
    await opA.call('PUT', '/v1/kv/data/shop/orders/db', { data: { password: 'pw-6' } })
    const woke = await waiting
    assert.ok(Date.now() - written < 5000, `woke ${Date.now() - written} ms after the write, not at the end of the wait`)
    assert.equal(woke.status, 200)
    assert.equal(woke.body.data.password, 'pw-6')
  } finally {
    await a.close()
    await b.close()
  }
})

test('postgres: two writers with the same check-and-set at two vault replicas: one wins, the other gets the conflict', { skip: pgSkip }, async () => {
  const [a, b] = await twoReplicas()
  try {
    const clients = [await a.operator(), await b.operator()]
    for (let round = 0; round < 12; round++) {
      const path = `/v1/kv/data/race/r${round % 3}`
      const cas = Math.floor(round / 3)
      const results = await Promise.all(clients.map((c, i) => c.call('PUT', path, { data: { by: i, round }, cas })))
      const statuses = results.map((r) => r.status).sort()
      assert.deepEqual(statuses, [200, 409], `round ${round}: ${JSON.stringify(results.map((r) => r.body))}`)
      assert.equal(results.find((r) => r.status === 409)!.body.code, 'BW_VAULT_CAS_MISMATCH')
      const winner = results.findIndex((r) => r.status === 200)
      const stored = await clients[1 - winner]!.call('GET', path)
      assert.deepEqual([stored.body.version, stored.body.data.by], [cas + 1, winner], 'the loser reads the winner\'s value')
    }
  } finally {
    await a.close()
    await b.close()
  }
})

test('postgres: a KEK or transit key rotated at one vault replica, or a transit key deleted there, applies at the other at once', { skip: pgSkip }, async () => {
  const [a, b] = await twoReplicas()
  try {
    const opA = await a.operator()
    const opB = await b.operator()
    await opB.call('PUT', '/v1/kv/data/k/before', { data: { v: 'old-kek' } })
    assert.equal((await opB.call('GET', '/v1/kv/data/k/before')).status, 200)
    assert.deepEqual((await opA.call('POST', '/v1/sys/rotate-kek')).body, { kekVersion: 2 })
    await opA.call('PUT', '/v1/kv/data/k/after', { data: { v: 'new-kek' } })
    assert.equal((await opB.call('GET', '/v1/kv/data/k/after')).body.data.v, 'new-kek', 'B reads a row wrapped under a KEK it had not seen')
    assert.equal((await opB.call('POST', '/v1/sys/rotate-kek')).body.kekVersion, 3, 'B rotates after the newest stored version')

    await opA.call('POST', '/v1/transit/keys/shop-rep')
    const v1 = (await opB.call('POST', '/v1/transit/encrypt/shop-rep', { plaintext: b64('one') })).body.ciphertext
    assert.match(v1, /^bw:v1:/)
    await opA.call('POST', '/v1/transit/keys/shop-rep/rotate')
    const v2 = (await opB.call('POST', '/v1/transit/encrypt/shop-rep', { plaintext: b64('two') })).body.ciphertext
    assert.match(v2, /^bw:v2:/, 'B encrypts under the version A added')
    assert.equal(Buffer.from((await opA.call('POST', '/v1/transit/decrypt/shop-rep', { ciphertext: v2 })).body.plaintext, 'base64').toString(), 'two')
    await opA.call('POST', '/v1/transit/keys/shop-rep/config', { minDecryptionVersion: 2 })
    assert.equal((await opB.call('POST', '/v1/transit/decrypt/shop-rep', { ciphertext: v1 })).body.code, 'BW_VAULT_KEY_VERSION', 'B honours the minimum set at A')
    assert.equal((await opA.call('DELETE', '/v1/transit/keys/shop-rep')).status, 200)
    const shredded = await opB.call('POST', '/v1/transit/decrypt/shop-rep', { ciphertext: v2 })
    assert.equal(shredded.status, 404, 'a key shredded at A no longer decrypts at B')

    // Both replicas' scheduled rotation at once rotates a due key once.
    await opA.call('POST', '/v1/transit/keys/shop-due')
    a.clock.advance(31 * 86_400_000)
    b.clock.advance(31 * 86_400_000)
    const rotated = await Promise.all([a.vault.maintain(), b.vault.maintain()])
    assert.equal(rotated.flat().filter((n) => n === 'shop-due').length, 1)
    assert.equal((await opB.call('GET', '/v1/transit/keys/shop-due')).body.latestVersion, 2)
  } finally {
    await a.close()
    await b.close()
  }
})
