import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { once } from 'node:events'
import { EventEmitter } from 'node:events'
import { createVaultClient, VaultError, type VaultClient } from '@bulwark/sdk/vault'
import { startVault, type Harness } from './helpers.ts'

let h: Harness
let opClient: VaultClient
let usersClient: VaultClient

before(async () => {
  h = await startVault()
  opClient = createVaultClient({ url: h.url, dispatcher: (await h.operator()).agent })
  usersClient = createVaultClient({ url: h.url, dispatcher: (await h.client('users')).agent })
})
after(() => h.close())

test('kv round trip through the sdk; the value stays out of JSON and inspect', async () => {
  const put = await opClient.kv.put('shop/users/api', { apiKey: 'sdk-secret-value-1' })
  assert.equal(put.version, 1)
  await opClient.kv.put('shop/users/api', { apiKey: 'sdk-secret-value-2' }, { cas: 1 })
  const secret = await usersClient.kv.get('shop/users/api')
  assert.equal(secret.data.apiKey, 'sdk-secret-value-2')
  assert.equal((await usersClient.kv.get('shop/users/api', { version: 1 })).data.apiKey, 'sdk-secret-value-1')
  assert.ok(!JSON.stringify(secret).includes('sdk-secret-value'))
  assert.ok(!inspect(secret, { depth: 5 }).includes('sdk-secret-value'))
  assert.deepEqual(await usersClient.kv.list('shop/users'), ['api'])
  const cas = await opClient.kv.put('shop/users/api', { apiKey: 'sdk-secret-value-3' }, { cas: 1 }).catch((e: unknown) => e)
  assert.ok(cas instanceof VaultError)
  assert.equal(cas.code, 'BW_VAULT_CAS_MISMATCH')
  assert.ok(!cas.message.includes('sdk-secret-value'), 'errors never carry the value')
  assert.deepEqual((await opClient.kv.delete('shop/users/api')).deleted, [2])
  await assert.rejects(usersClient.kv.get('shop/users/api'), { code: 'BW_VAULT_VERSION_DELETED' })
  await assert.rejects(usersClient.kv.get('shop/orders/api'), { code: 'BW_VAULT_NOT_FOUND', status: 404 })
})

test('transit helpers: encrypt/decrypt text, hmac, blind index, rewrap, create/delete', async () => {
  await usersClient.transit.createKey('shop-sdk')
  const ct = await usersClient.transit.encrypt('shop-sdk', 'bob@example.com', { context: 'user-7' })
  assert.equal(await usersClient.transit.decryptText('shop-sdk', ct, { context: 'user-7' }), 'bob@example.com')
  const mac = await usersClient.transit.hmac('shop-sdk', 'x')
  assert.equal(await usersClient.transit.verifyHmac('shop-sdk', 'x', mac), true)
  assert.equal(await usersClient.transit.blindIndex('shop-sdk', 'bob@example.com'), await usersClient.transit.blindIndex('shop-sdk', 'bob@example.com'))
  await opClient.transit.rotateKey('shop-sdk')
  assert.match(await usersClient.transit.rewrap('shop-sdk', ct, { context: 'user-7' }), /^bw:v2:/)
  const batch = await usersClient.transit.encryptBatch('shop-sdk', [{ plaintext: 'one' }, { plaintext: 'two', context: 'c' }])
  const opened = await usersClient.transit.decryptBatch('shop-sdk', [{ ciphertext: batch[0]! }, { ciphertext: batch[1]! }, { ciphertext: batch[1]!, context: 'c' }])
  assert.equal(String(opened[0]), 'one')
  assert.ok(opened[1] instanceof VaultError && opened[1].code === 'BW_VAULT_DECRYPT_FAILED')
  assert.equal(String(opened[2]), 'two')
  await usersClient.transit.deleteKey('shop-sdk')
  await assert.rejects(usersClient.transit.decrypt('shop-sdk', ct), { code: 'BW_VAULT_NOT_FOUND' })
})

test('the watcher fetches at start-up and picks up a change by long-poll', async () => {
  await opClient.kv.put('shop/users/watched', { password: 'one' })
  const changes = new EventEmitter()
  await assert.rejects(usersClient.watch(['shop/users/missing']), { code: 'BW_VAULT_NOT_FOUND' }, 'start-up fails closed')
  const watcher = await usersClient.watch(['shop/users/watched'], { waitSeconds: 20, onChange: (path) => changes.emit('change', path) })
  try {
    assert.equal(watcher.get('shop/users/watched')?.data.password, 'one')
    const changed = once(changes, 'change')
    await opClient.kv.put('shop/users/watched', { password: 'two' })
    assert.deepEqual(await changed, ['shop/users/watched'])
    assert.equal(watcher.get('shop/users/watched')?.data.password, 'two')
  } finally {
    watcher.stop()
  }
})

test('a long-poll with the current ETag answers 304 when nothing changes', async () => {
  await opClient.kv.put('shop/users/still', { v: '1' })
  const users = await h.client('users')
  const first = await users.call('GET', '/v1/kv/data/shop/users/still')
  const etag = first.headers.etag as string
  const waiting = users.call('GET', '/v1/kv/data/shop/users/still?wait=1', undefined, { 'if-none-match': etag })
  const res = await waiting
  assert.equal(res.status, 304)
})

test('a 256-character path (the default maximum) round-trips; 257 is refused', async () => {
  const path = `deep/${'a'.repeat(100)}/${'b'.repeat(150)}`
  assert.equal(path.length, 256)
  await opClient.kv.put(path, { v: 1 })
  assert.equal((await opClient.kv.get(path)).data.v, 1)
  await assert.rejects(opClient.kv.put(`${path}c`, { v: 1 }), { code: 'BW_VAULT_PATH_INVALID', status: 400 })
})
