import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { startVault, type Client, type Harness } from './helpers.ts'

let h: Harness
let op: Client
let users: Client
const b64 = (s: string) => Buffer.from(s).toString('base64')
const text = (s: string) => Buffer.from(s, 'base64').toString('utf8')

before(async () => {
  h = await startVault()
  op = await h.operator()
  users = await h.client('users')
})
after(() => h.close())

test('a service creates a shop key, encrypts and decrypts, and never sees the key', async () => {
  const created = await users.call('POST', '/v1/transit/keys/shop-pii')
  assert.equal(created.status, 201)
  assert.equal(created.body.latestVersion, 1)
  assert.equal(JSON.stringify(created.body).includes('wrapped'), false)
  assert.equal((await users.call('POST', '/v1/transit/keys/shop-pii')).status, 200, 'creating again is idempotent')
  const enc = await users.call('POST', '/v1/transit/encrypt/shop-pii', { plaintext: b64('alice@example.com') })
  assert.equal(enc.status, 200)
  assert.match(enc.body.ciphertext, /^bw:v1:[A-Za-z0-9+/]+=*$/)
  const again = await users.call('POST', '/v1/transit/encrypt/shop-pii', { plaintext: b64('alice@example.com') })
  assert.notEqual(again.body.ciphertext, enc.body.ciphertext, 'fresh IV per encryption')
  const dec = await users.call('POST', '/v1/transit/decrypt/shop-pii', { ciphertext: enc.body.ciphertext })
  assert.equal(text(dec.body.plaintext), 'alice@example.com')
})

test('context binds a ciphertext: a different context fails authentication', async () => {
  await users.call('POST', '/v1/transit/keys/shop-ctx')
  const enc = await users.call('POST', '/v1/transit/encrypt/shop-ctx', { plaintext: b64('4111111111111111'), context: b64('user-1') })
  const wrong = await users.call('POST', '/v1/transit/decrypt/shop-ctx', { ciphertext: enc.body.ciphertext, context: b64('user-2') })
  assert.equal(wrong.status, 400)
  assert.equal(wrong.body.code, 'BW_VAULT_DECRYPT_FAILED')
  const right = await users.call('POST', '/v1/transit/decrypt/shop-ctx', { ciphertext: enc.body.ciphertext, context: b64('user-1') })
  assert.equal(text(right.body.plaintext), '4111111111111111')
})

test('tampered, malformed and foreign-key ciphertexts are refused', async () => {
  await users.call('POST', '/v1/transit/keys/shop-t1')
  await users.call('POST', '/v1/transit/keys/shop-t2')
  const enc = (await users.call('POST', '/v1/transit/encrypt/shop-t1', { plaintext: b64('hello') })).body.ciphertext as string
  const raw = Buffer.from(enc.split(':')[2]!, 'base64')
  raw[raw.length - 20]! ^= 1
  const tampered = `bw:v1:${raw.toString('base64')}`
  const res = await users.call('POST', '/v1/transit/decrypt/shop-t1', { ciphertext: tampered })
  assert.equal(res.status, 400)
  assert.equal(res.body.code, 'BW_VAULT_DECRYPT_FAILED')
  assert.equal((await users.call('POST', '/v1/transit/decrypt/shop-t2', { ciphertext: enc })).body.code, 'BW_VAULT_DECRYPT_FAILED')
  for (const bad of ['vault:v1:abc', 'bw:v0:abc', 'bw:v1:', 'bw:v1:***', 'bw:vx:abcd', 42]) {
    const r = await users.call('POST', '/v1/transit/decrypt/shop-t1', { ciphertext: bad })
    assert.equal(r.status, 400, String(bad))
  }
  assert.ok(!h.events.some((e) => JSON.stringify(e).includes('aGVsbG8')), 'no plaintext in audit')
})

test('rotation: new version encrypts, old still decrypts, rewrap upgrades, minimum version retires', async () => {
  await users.call('POST', '/v1/transit/keys/shop-rot')
  const v1 = (await users.call('POST', '/v1/transit/encrypt/shop-rot', { plaintext: b64('old') })).body.ciphertext
  assert.equal((await users.call('POST', '/v1/transit/keys/shop-rot/rotate')).status, 404, 'services may not rotate')
  const rotated = await op.call('POST', '/v1/transit/keys/shop-rot/rotate')
  assert.equal(rotated.body.latestVersion, 2)
  const v2 = (await users.call('POST', '/v1/transit/encrypt/shop-rot', { plaintext: b64('new') })).body.ciphertext
  assert.match(v2, /^bw:v2:/)
  assert.equal(text((await users.call('POST', '/v1/transit/decrypt/shop-rot', { ciphertext: v1 })).body.plaintext), 'old')
  const rewrapped = (await users.call('POST', '/v1/transit/rewrap/shop-rot', { ciphertext: v1 })).body.ciphertext
  assert.match(rewrapped, /^bw:v2:/)
  const future = await users.call('POST', '/v1/transit/decrypt/shop-rot', { ciphertext: v1.replace('bw:v1:', 'bw:v7:') })
  assert.equal(future.status, 400)
  assert.equal(future.body.code, 'BW_VAULT_KEY_VERSION')
  const relabelled = await users.call('POST', '/v1/transit/decrypt/shop-rot', { ciphertext: v1.replace('bw:v1:', 'bw:v2:') })
  assert.equal(relabelled.body.code, 'BW_VAULT_DECRYPT_FAILED')
  await op.call('POST', '/v1/transit/keys/shop-rot/config', { minDecryptionVersion: 2 })
  const retired = await users.call('POST', '/v1/transit/decrypt/shop-rot', { ciphertext: v1 })
  assert.equal(retired.status, 400)
  assert.equal(retired.body.code, 'BW_VAULT_KEY_VERSION')
  assert.equal(text((await users.call('POST', '/v1/transit/decrypt/shop-rot', { ciphertext: rewrapped })).body.plaintext), 'old')
})

test('transit keys rotate on their own once their newest version is 30 days old; old ciphertexts still decrypt', async () => {
  await users.call('POST', '/v1/transit/keys/shop-auto')
  const old = (await users.call('POST', '/v1/transit/encrypt/shop-auto', { plaintext: b64('kept') })).body.ciphertext
  assert.equal((await h.vault.maintain()).includes('shop-auto'), false, 'a fresh key is not due')
  h.clock.advance(30 * 86_400_000)
  const rotated = await h.vault.maintain()
  assert.ok(rotated.includes('shop-auto'))
  assert.match((await users.call('POST', '/v1/transit/encrypt/shop-auto', { plaintext: b64('new') })).body.ciphertext, /^bw:v2:/)
  assert.equal(text((await users.call('POST', '/v1/transit/decrypt/shop-auto', { ciphertext: old })).body.plaintext), 'kept')
  assert.equal((await h.vault.maintain()).includes('shop-auto'), false, 'the new version is not due again')
  const event = h.events.filter((e) => e.type === 'key.rotated' && e.resource === 'transit/shop-auto').at(-1)!
  assert.deepEqual([event.actor.kind, event.details?.scheduled], ['service', true])
})

test('hmac verifies, blind index is deterministic per key and survives rotation', async () => {
  await users.call('POST', '/v1/transit/keys/shop-idx')
  await users.call('POST', '/v1/transit/keys/shop-idx2')
  const mac = (await users.call('POST', '/v1/transit/hmac/shop-idx', { input: b64('data') })).body.hmac
  assert.match(mac, /^bw:v1:/)
  assert.equal((await users.call('POST', '/v1/transit/verify/shop-idx', { input: b64('data'), hmac: mac })).body.valid, true)
  assert.equal((await users.call('POST', '/v1/transit/verify/shop-idx', { input: b64('date'), hmac: mac })).body.valid, false)
  const index = async (key: string, v: string) => (await users.call('POST', `/v1/transit/blind-index/${key}`, { input: b64(v) })).body.index
  const a = await index('shop-idx', 'alice@example.com')
  assert.equal(await index('shop-idx', 'alice@example.com'), a)
  assert.notEqual(await index('shop-idx', 'bob@example.com'), a)
  assert.notEqual(await index('shop-idx2', 'alice@example.com'), a)
  await op.call('POST', '/v1/transit/keys/shop-idx/rotate')
  assert.equal(await index('shop-idx', 'alice@example.com'), a)
})

test('deleting a key shreds it: its ciphertexts are gone for good', async () => {
  await users.call('POST', '/v1/transit/keys/shop-user-42')
  const ct = (await users.call('POST', '/v1/transit/encrypt/shop-user-42', { plaintext: b64('pii') })).body.ciphertext
  const del = await users.call('DELETE', '/v1/transit/keys/shop-user-42')
  assert.equal(del.status, 200)
  assert.equal((await users.call('POST', '/v1/transit/decrypt/shop-user-42', { ciphertext: ct })).status, 404)
  await users.call('POST', '/v1/transit/keys/shop-user-42')
  const after = await users.call('POST', '/v1/transit/decrypt/shop-user-42', { ciphertext: ct })
  assert.equal(after.body.code, 'BW_VAULT_DECRYPT_FAILED', 'a new key of the same name cannot open old data')
  const types = h.events.filter((e) => e.resource === 'shop-user-42').map((e) => e.type)
  assert.ok(types.includes('transit_key.created') && types.includes('transit_key.deleted'))
})

test('oversized transit input and bad key names are 4xx', async () => {
  const big = await users.call('POST', '/v1/transit/encrypt/shop-pii', { plaintext: b64('x'.repeat(40000)) })
  assert.ok(big.status === 400 || big.status === 413)
  assert.equal((await users.call('POST', '/v1/transit/keys/shop-%2A')).status, 400)
  assert.equal((await users.call('POST', '/v1/transit/encrypt/shop-pii', { plaintext: 'not base64!' })).status, 400)
})

test('batch encrypt and decrypt: order kept, a bad item fails alone, one audit event', async () => {
  await users.call('POST', '/v1/transit/keys/shop-batch')
  const emails = ['a@x.io', 'b@x.io', 'c@x.io']
  const enc = await users.call('POST', '/v1/transit/encrypt-batch/shop-batch', { items: emails.map((e) => ({ plaintext: b64(e), context: b64(e.length.toString()) })) })
  assert.equal(enc.status, 200)
  const cts = enc.body.items.map((i: { ciphertext: string }) => i.ciphertext)
  const dec = await users.call('POST', '/v1/transit/decrypt-batch/shop-batch', {
    items: [{ ciphertext: cts[0], context: b64('6') }, { ciphertext: cts[1], context: b64('wrong') }, { ciphertext: cts[2], context: b64('6') }, { ciphertext: 'junk' }],
  })
  assert.equal(dec.status, 200)
  assert.equal(text(dec.body.items[0].plaintext), 'a@x.io')
  assert.equal(dec.body.items[1].error.code, 'BW_VAULT_DECRYPT_FAILED')
  assert.equal(text(dec.body.items[2].plaintext), 'c@x.io')
  assert.equal(dec.body.items[3].error.code, 'BW_VAULT_CIPHERTEXT_INVALID')
  const event = h.events.findLast((e) => e.type === 'transit.decrypted' && e.resource === 'shop-batch')
  assert.deepEqual(event?.details, { count: 4, failed: 2 })
  assert.equal((await users.call('POST', '/v1/transit/decrypt-batch/shop-orders-x', { items: [{ ciphertext: cts[0] }] })).status, 404)
  assert.equal((await users.call('POST', '/v1/transit/encrypt-batch/shop-batch', { items: [] })).status, 400)
})
