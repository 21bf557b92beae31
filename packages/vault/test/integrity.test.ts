import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { DatabaseSync } from 'node:sqlite'
import { createManualClock, createMemoryAuditSink, createSilentLogger, homePaths } from '@bulwark/core'
import { tempDir } from '@bulwark/testkit'
import { createVault } from '../src/server.ts'
import { loadVaultConfig } from '../src/config.ts'
import { startVault } from './helpers.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')

test('swapped rows and flipped bytes in the store are detected, never decrypted', async () => {
  const h = await startVault()
  try {
    const op = await h.operator()
    await op.call('PUT', '/v1/kv/data/a/one', { data: { v: 'first' } })
    await op.call('PUT', '/v1/kv/data/a/two', { data: { v: 'second' } })
    await op.call('PUT', '/v1/kv/data/a/two', { data: { v: 'second-v2' } })
    const db = new DatabaseSync(homePaths(h.home).database('vault'))
    // Move a/one's sealed value and key onto a/two v1 (same shape, wrong place).
    const one = db.prepare("SELECT wrapped_dek, ciphertext, kek_version FROM kv_versions WHERE path = 'a/one'").get() as Record<string, Uint8Array>
    db.prepare("UPDATE kv_versions SET wrapped_dek = ?, ciphertext = ? WHERE path = 'a/two' AND version = 1").run(one.wrapped_dek!, one.ciphertext!)
    const moved = await op.call('GET', '/v1/kv/data/a/two?version=1')
    assert.equal(moved.status, 500)
    assert.equal(moved.body.code, 'BW_VAULT_INTEGRITY')
    assert.ok(!JSON.stringify(moved.body).includes('first'))
    // Swap versions 2 and 1 of the same path by renumbering.
    db.exec("UPDATE kv_versions SET version = 99 WHERE path = 'a/two' AND version = 2")
    db.exec("UPDATE kv_versions SET version = 2 WHERE path = 'a/two' AND version = 1")
    db.exec("UPDATE kv_versions SET version = 1 WHERE path = 'a/two' AND version = 99")
    assert.equal((await op.call('GET', '/v1/kv/data/a/two?version=1')).body.code, 'BW_VAULT_INTEGRITY')
    // One flipped bit in a ciphertext that was just read (and so is in the read cache).
    assert.equal((await op.call('GET', '/v1/kv/data/a/one')).body.data.v, 'first')
    const row = db.prepare("SELECT ciphertext FROM kv_versions WHERE path = 'a/one'").get() as { ciphertext: Uint8Array }
    const flipped = Buffer.from(row.ciphertext)
    flipped[15]! ^= 0x01
    db.prepare("UPDATE kv_versions SET ciphertext = ? WHERE path = 'a/one'").run(flipped)
    assert.equal((await op.call('GET', '/v1/kv/data/a/one')).body.code, 'BW_VAULT_INTEGRITY')
    // A row pointing at another KEK version.
    db.exec("UPDATE kv_versions SET kek_version = 5 WHERE path = 'a/two'")
    assert.equal((await op.call('GET', '/v1/kv/data/a/two?version=2')).body.code, 'BW_VAULT_INTEGRITY')
    db.close()
    assert.ok(h.events.some((e) => e.type === 'secret.integrity_failed' && e.outcome === 'error'))
  } finally {
    await h.close()
  }
})

test('KEK rotation: new writes use the new KEK, old rows are rewrapped lazily and by rewrap', async () => {
  const h = await startVault()
  try {
    const op = await h.operator()
    for (let i = 0; i < 5; i++) await op.call('PUT', `/v1/kv/data/r/s${i}`, { data: { i } })
    await op.call('POST', '/v1/transit/keys/shop-k')
    const ct = (await op.call('POST', '/v1/transit/encrypt/shop-k', { plaintext: b64('t') })).body.ciphertext
    assert.deepEqual((await op.call('POST', '/v1/sys/rotate-kek')).body, { kekVersion: 2 })
    assert.equal((await op.call('GET', '/v1/sys/status')).body.secretVersionsToRewrap, 5)
    assert.equal((await op.call('GET', '/v1/kv/data/r/s0')).body.data.i, 0)
    await h.vault.queue.drain()
    assert.equal((await op.call('GET', '/v1/sys/status')).body.secretVersionsToRewrap, 4, 'a read rewrapped its row')
    await op.call('PUT', '/v1/kv/data/r/new', { data: { n: 1 } })
    const rewrap = await op.call('POST', '/v1/sys/rewrap')
    assert.deepEqual(rewrap.body.secrets, { rewrapped: 4, failed: 0 })
    assert.equal(rewrap.body.transitKeyVersions, 1)
    assert.deepEqual(rewrap.body.failedTransitKeys, [])
    const db = new DatabaseSync(homePaths(h.home).database('vault'), { readOnly: true })
    const keks = db.prepare('SELECT DISTINCT kek_version AS v FROM kv_versions').all() as Array<{ v: number }>
    assert.deepEqual(keks.map((r) => r.v), [2])
    db.close()
    for (let i = 0; i < 5; i++) assert.equal((await op.call('GET', `/v1/kv/data/r/s${i}`)).body.data.i, i)
    assert.equal(Buffer.from((await op.call('POST', '/v1/transit/decrypt/shop-k', { ciphertext: ct })).body.plaintext, 'base64').toString(), 't')
    assert.ok(h.events.some((e) => e.type === 'kek.rotated') && h.events.some((e) => e.type === 'kek.rewrapped'))
  } finally {
    await h.close()
  }
})

test('known plaintexts never appear in any file under the home', async () => {
  const h = await startVault()
  const secrets = ['correct-horse-battery-staple-81723', 'card-4111111111111111-x', 'pii-alice@example.com-7731']
  try {
    const op = await h.operator()
    const users = await h.client('users')
    await op.call('PUT', '/v1/kv/data/shop/users/creds', { data: { password: secrets[0] } })
    await op.call('PUT', '/v1/kv/data/shop/users/creds', { data: { password: secrets[0], other: secrets[1] } })
    await op.call('DELETE', '/v1/kv/data/shop/users/creds')
    await users.call('POST', '/v1/transit/keys/shop-pii')
    await users.call('POST', '/v1/transit/encrypt/shop-pii', { plaintext: b64(secrets[2]!) })
    await users.call('POST', '/v1/transit/blind-index/shop-pii', { input: b64(secrets[2]!) })
    await h.vault.queue.drain()
    const files: string[] = []
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const full = join(dir, name)
        if (statSync(full).isDirectory()) walk(full)
        else files.push(full)
      }
    }
    walk(h.home)
    assert.ok(files.some((f) => f.endsWith('vault.db')) && files.some((f) => f.endsWith('master.key')))
    for (const file of files) {
      const content = readFileSync(file)
      for (const secret of secrets) {
        assert.equal(content.includes(Buffer.from(secret)), false, `${secret} found in ${file}`)
        assert.equal(content.includes(Buffer.from(b64(secret))), false, `base64 of ${secret} found in ${file}`)
      }
    }
    assert.equal(statSync(homePaths(h.home).masterKey).mode & 0o777, 0o600)
    assert.ok(!JSON.stringify(h.events).includes(secrets[0]!))
  } finally {
    await h.close()
  }
})

test('master key: wrong key refuses to start, loose permissions refuse, env file and KMS hook work', async () => {
  using dir = tempDir('bulwark-vault-keys-')
  const deps = { log: createSilentLogger(), audit: createMemoryAuditSink(), clock: createManualClock(), home: dir.path }
  const paths = homePaths(dir.path)
  const first = await createVault(loadVaultConfig({}, {}), deps)
  await first.kv.put('k/v', { a: 1 }, { actor: 'test' })
  await first.close()
  const good = readFileSync(paths.masterKey, 'utf8')
  writeFileSync(paths.masterKey, randomBytes(32).toString('base64'))
  await assert.rejects(createVault(loadVaultConfig({}, {}), deps), { code: 'BW_VAULT_MASTER_KEY' })
  writeFileSync(paths.masterKey, good)
  chmodSync(paths.masterKey, 0o644)
  await assert.rejects(createVault(loadVaultConfig({}, {}), deps), /must be mode 0600/)
  chmodSync(paths.masterKey, 0o600)
  const elsewhere = join(dir.path, 'elsewhere.key')
  writeFileSync(elsewhere, good, { mode: 0o600 })
  writeFileSync(paths.masterKey, randomBytes(32).toString('base64'))
  const viaEnv = await createVault(loadVaultConfig({}, { BULWARK_MASTER_KEY_FILE: elsewhere }), deps)
  assert.deepEqual((await viaEnv.kv.get('k/v')).data, { a: 1 })
  await viaEnv.close()
  const viaKms = await createVault(loadVaultConfig({}, {}), { ...deps, kms: { loadMasterKey: async () => Buffer.from(good.trim(), 'base64') } })
  assert.deepEqual((await viaKms.kv.get('k/v')).data, { a: 1 })
  await viaKms.close()
  await assert.rejects(createVault(loadVaultConfig({ createMasterKey: true, masterKeyFile: join(dir.path, 'missing.key') }, {}), deps), /missing/, 'never invents a key for an existing keyring')
})

test('a tampered transit key row refuses to load and is named by rewrap', async () => {
  const h = await startVault()
  try {
    const op = await h.operator()
    await op.call('POST', '/v1/transit/keys/shop-good')
    await op.call('POST', '/v1/transit/keys/shop-bad')
    const db = new DatabaseSync(homePaths(h.home).database('vault'))
    // Give shop-bad the (valid, but bound to another name) wrapped key of shop-good.
    const good = db.prepare("SELECT wrapped_key FROM transit_key_versions WHERE name = 'shop-good'").get() as { wrapped_key: Uint8Array }
    db.prepare("UPDATE transit_key_versions SET wrapped_key = ? WHERE name = 'shop-bad'").run(good.wrapped_key)
    db.close()
    const use = await op.call('POST', '/v1/transit/encrypt/shop-bad', { plaintext: b64('x') })
    assert.equal(use.status, 500)
    assert.equal(use.body.code, 'BW_VAULT_INTEGRITY')
    assert.ok(h.events.some((e) => e.type === 'transit_key.integrity_failed' && e.resource === 'shop-bad'))
    assert.equal((await op.call('POST', '/v1/transit/encrypt/shop-good', { plaintext: b64('x') })).status, 200)
    await op.call('POST', '/v1/sys/rotate-kek')
    const rewrap = await op.call('POST', '/v1/sys/rewrap')
    assert.deepEqual(rewrap.body.failedTransitKeys, ['shop-bad'])
    assert.equal(rewrap.body.transitKeyVersions, 1)
  } finally {
    await h.close()
  }
})
