import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { startVault, type Client, type Harness } from './helpers.ts'

let h: Harness
let op: Client
before(async () => {
  h = await startVault({ maxValueBytes: 1024, maxPathLength: 64, maxVersions: 3 })
  op = await h.operator()
})
after(() => h.close())

test('put then get returns the latest version with who and when', async () => {
  const put = await op.call('PUT', '/v1/kv/data/app/db', { data: { user: 'u', password: 'p1' } })
  assert.equal(put.status, 200)
  assert.equal(put.body.version, 1)
  const second = await op.call('PUT', '/v1/kv/data/app/db', { data: { user: 'u', password: 'p2' }, cas: 1 })
  assert.equal(second.body.version, 2)
  const got = await op.call('GET', '/v1/kv/data/app/db')
  assert.equal(got.status, 200)
  assert.deepEqual(got.body.data, { user: 'u', password: 'p2' })
  assert.equal(got.body.version, 2)
  assert.equal(got.body.createdBy, `spiffe://${h.ca.trustDomain}/operator/admin`)
  assert.equal(got.body.createdAt, new Date(h.clock.now()).toISOString())
  const old = await op.call('GET', '/v1/kv/data/app/db?version=1')
  assert.deepEqual(old.body.data, { user: 'u', password: 'p1' })
})

test('rejects a wrong check-and-set version and changes nothing', async () => {
  await op.call('PUT', '/v1/kv/data/cas/x', { data: { v: 'a' } })
  const wrong = await op.call('PUT', '/v1/kv/data/cas/x', { data: { v: 'b' }, cas: 0 })
  assert.equal(wrong.status, 409)
  assert.equal(wrong.body.code, 'BW_VAULT_CAS_MISMATCH')
  assert.match(wrong.headers['content-type'] as string, /application\/problem\+json/)
  const stale = await op.call('PUT', '/v1/kv/data/cas/x', { data: { v: 'b' }, cas: 7 })
  assert.equal(stale.status, 409)
  const got = await op.call('GET', '/v1/kv/data/cas/x')
  assert.deepEqual(got.body.data, { v: 'a' })
  assert.equal(got.body.version, 1)
  const createOnly = await op.call('PUT', '/v1/kv/data/cas/new', { data: { v: 'n' }, cas: 0 })
  assert.equal(createOnly.status, 200)
})

test('check-and-set required by metadata refuses a blind write', async () => {
  await op.call('PUT', '/v1/kv/data/cas/strict', { data: { v: '1' } })
  const meta = await op.call('POST', '/v1/kv/metadata/cas/strict', { casRequired: true })
  assert.equal(meta.body.casRequired, true)
  const blind = await op.call('PUT', '/v1/kv/data/cas/strict', { data: { v: '2' } })
  assert.equal(blind.status, 428)
  assert.equal(blind.body.code, 'BW_VAULT_CAS_REQUIRED')
  assert.equal((await op.call('PUT', '/v1/kv/data/cas/strict', { data: { v: '2' }, cas: 1 })).status, 200)
})

test('unknown path and unknown version are 404 problems', async () => {
  const missing = await op.call('GET', '/v1/kv/data/nope/nothing')
  assert.equal(missing.status, 404)
  assert.equal(missing.body.code, 'BW_VAULT_NOT_FOUND')
  assert.equal(missing.body.detail, 'secret `nope/nothing` not found')
  await op.call('PUT', '/v1/kv/data/ver/one', { data: { a: 1 } })
  const badVersion = await op.call('GET', '/v1/kv/data/ver/one?version=9')
  assert.equal(badVersion.status, 404)
  assert.equal(badVersion.body.detail, 'version 9 of secret `ver/one` not found')
  const garbage = await op.call('GET', '/v1/kv/data/ver/one?version=abc')
  assert.equal(garbage.status, 400)
})

test('oversized values and paths, and bad paths, are refused with nothing written', async () => {
  const big = await op.call('PUT', '/v1/kv/data/big/v', { data: { blob: 'x'.repeat(2000) } })
  assert.equal(big.status, 413)
  assert.equal(big.body.code, 'BW_VAULT_VALUE_TOO_LARGE')
  assert.equal((await op.call('GET', '/v1/kv/data/big/v')).status, 404)
  const long = await op.call('PUT', `/v1/kv/data/${'a'.repeat(80)}`, { data: { a: 1 } })
  assert.equal(long.status, 400)
  assert.equal(long.body.code, 'BW_VAULT_PATH_INVALID')
  for (const bad of ['a//b', '.hidden', 'a/b/', 'a%2F..%2Fb', 'a/*']) {
    const res = await op.call('PUT', `/v1/kv/data/${bad}`, { data: { a: 1 } })
    assert.equal(res.status, 400, bad)
  }
  const unknownField = await op.call('PUT', '/v1/kv/data/x/y', { data: { a: 1 }, extra: true })
  assert.equal(unknownField.status, 400)
  assert.equal((await op.call('GET', '/v1/kv/data/x/y')).status, 404)
})

test('soft delete hides a version, undelete brings it back, destroy is final', async () => {
  await op.call('PUT', '/v1/kv/data/life/s', { data: { k: 'v1' } })
  await op.call('PUT', '/v1/kv/data/life/s', { data: { k: 'v2' } })
  const del = await op.call('DELETE', '/v1/kv/data/life/s')
  assert.deepEqual(del.body.deleted, [2])
  const gone = await op.call('GET', '/v1/kv/data/life/s')
  assert.equal(gone.status, 404)
  assert.equal(gone.body.code, 'BW_VAULT_VERSION_DELETED')
  assert.equal((await op.call('GET', '/v1/kv/data/life/s?version=1')).body.data.k, 'v1')
  const und = await op.call('POST', '/v1/kv/undelete/life/s', { versions: [2] })
  assert.deepEqual(und.body.undeleted, [2])
  assert.equal((await op.call('GET', '/v1/kv/data/life/s')).body.data.k, 'v2')
  const unknown = await op.call('POST', '/v1/kv/destroy/life/s', { versions: [1, 5] })
  assert.equal(unknown.status, 404)
  assert.equal((await op.call('GET', '/v1/kv/data/life/s?version=1')).body.data.k, 'v1', 'a failed destroy changes nothing')
  const destroy = await op.call('POST', '/v1/kv/destroy/life/s', { versions: [1] })
  assert.deepEqual(destroy.body.destroyed, [1])
  const destroyed = await op.call('GET', '/v1/kv/data/life/s?version=1')
  assert.equal(destroyed.status, 410)
  assert.equal((await op.call('POST', '/v1/kv/undelete/life/s', { versions: [1] })).status, 410)
  const meta = await op.call('GET', '/v1/kv/metadata/life/s')
  assert.equal(meta.body.currentVersion, 2)
  assert.equal(meta.body.versions[0].destroyed, true)
  assert.equal(meta.body.createdBy, `spiffe://${h.ca.trustDomain}/operator/admin`)
})

test('keeps at most maxVersions versions', async () => {
  for (let i = 1; i <= 5; i++) await op.call('PUT', '/v1/kv/data/many/v', { data: { i } })
  const meta = await op.call('GET', '/v1/kv/metadata/many/v')
  assert.deepEqual(meta.body.versions.map((v: { version: number }) => v.version), [3, 4, 5])
  assert.equal((await op.call('GET', '/v1/kv/data/many/v?version=1')).status, 404)
})

test('lists direct children of a prefix, folders with a trailing slash', async () => {
  await op.call('PUT', '/v1/kv/data/tree/a', { data: { x: 1 } })
  await op.call('PUT', '/v1/kv/data/tree/b/c', { data: { x: 1 } })
  await op.call('PUT', '/v1/kv/data/tree/b/d', { data: { x: 1 } })
  await op.call('PUT', '/v1/kv/data/treehouse', { data: { x: 1 } })
  const list = await op.call('GET', '/v1/kv/list/tree')
  assert.deepEqual(list.body.keys, ['a', 'b/'])
  assert.deepEqual((await op.call('GET', '/v1/kv/list/tree/b/')).body.keys, ['c', 'd'])
  assert.equal((await op.call('GET', '/v1/kv/list/empty/')).status, 404)
})

test('audits reads and writes without the value', async () => {
  await op.call('PUT', '/v1/kv/data/audit/me', { data: { token: 'sekrit-audit-value' } })
  await op.call('GET', '/v1/kv/data/audit/me')
  const mine = h.events.filter((e) => e.resource === 'audit/me')
  assert.deepEqual(mine.map((e) => e.type), ['secret.written', 'secret.read'])
  assert.equal(mine[0]!.actor.kind, 'operator')
  assert.ok(!JSON.stringify(h.events).includes('sekrit-audit-value'))
})

test('checkPath refuses climbing, empty and odd segments', async () => {
  const { checkPath, checkPrefix } = await import('../src/paths.ts')
  for (const bad of ['a/../b', '..', 'a/./b', '', 'a//b', '/a', 'a/', 'a b', 'a/*', 'a/**', 'ä']) {
    assert.throws(() => checkPath(bad, 64), { code: 'BW_VAULT_PATH_INVALID' }, bad)
  }
  assert.equal(checkPath('shop/users/db-1.2_x', 64), 'shop/users/db-1.2_x')
  assert.equal(checkPrefix('', 64), '')
  assert.equal(checkPrefix('shop', 64), 'shop/')
  assert.equal(checkPrefix('shop/', 64), 'shop/')
})

test('paths up to the configured maximum work end to end', async () => {
  const path = `long/${'x'.repeat(58)}`
  assert.equal(path.length, 63)
  assert.equal((await op.call('PUT', `/v1/kv/data/${path}`, { data: { a: 1 } })).status, 200)
  assert.equal((await op.call('GET', `/v1/kv/data/${path}`)).body.data.a, 1)
})
