// Storage settings on the CLI side: a password is never a literal in
// config.json, BULWARK_DATABASE_URL wins, a password file must be owner-only,
// and `status` names host and database but never the password.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { defaultPlatformConfig, type PlatformConfig } from '@bulwark/core/base'
import { tempDir } from '@bulwark/testkit'
import { describeStorage, resolveStorage } from '../src/supervisor/storage.ts'
import { runCli } from './helpers.ts'

const withStorage = (postgres: NonNullable<PlatformConfig['storage']>['postgres']): PlatformConfig => ({ ...defaultPlatformConfig(), storage: { postgres } })

test('without a database URL components keep SQLite; BULWARK_DATABASE_URL wins over storage.postgres.url', () => {
  assert.equal(resolveStorage(defaultPlatformConfig(), {}), undefined)
  assert.deepEqual(describeStorage(defaultPlatformConfig(), {}), { engine: 'sqlite' })
  const config = withStorage({ url: 'postgres://bulwark@db.internal:5433/platform' })
  assert.deepEqual(resolveStorage(config, {}), { postgres: { url: 'postgres://bulwark@db.internal:5433/platform' } })
  const env = { BULWARK_DATABASE_URL: 'postgres://ops:s3cret@10.0.0.9/other' }
  assert.deepEqual(resolveStorage(config, env), { postgres: { url: env.BULWARK_DATABASE_URL } })
  assert.deepEqual(describeStorage(config, env), { engine: 'postgres', host: '10.0.0.9', port: 5432, database: 'other', user: 'ops' })
  assert.throws(() => resolveStorage(config, { BULWARK_DATABASE_URL: 'mysql://ops:s3cret@db/x' }), (e: Error) => /BULWARK_DATABASE_URL: .*postgres:\/\//.test(e.message) && !e.message.includes('s3cret'))
})

test('the password comes from storage.postgres.passwordFile only when that file is owner-only', () => {
  using dir = tempDir('bulwark-storage-')
  const file = join(dir.path, 'pg-password')
  writeFileSync(file, 'p@ss:w/rd\n', { mode: 0o600 })
  const config = withStorage({ url: 'postgres://bulwark@db:5432/bulwark', passwordFile: file })
  const url = resolveStorage(config, {})!.postgres!.url
  assert.equal(decodeURIComponent(new URL(url).password), 'p@ss:w/rd')
  assert.equal(new URL(url).hostname, 'db')
  writeFileSync(join(dir.path, 'loose'), 'pw\n', { mode: 0o644 })
  assert.throws(() => resolveStorage(withStorage({ url: 'postgres://bulwark@db/bulwark', passwordFile: join(dir.path, 'loose') }), {}), /must be mode 0600 or 0400 \(it is 0644\)/)
  assert.throws(() => resolveStorage(withStorage({ url: 'postgres://bulwark@db/bulwark', passwordFile: join(dir.path, 'missing') }), {}), /cannot read it \(ENOENT\)/)
})

test('a password inside storage.postgres.url in config.json is refused at load, naming the path; status shows host and database only', async () => {
  using dir = tempDir('bulwark-storage-')
  const home = join(dir.path, 'home')
  assert.equal((await runCli(['--home', home, 'init', '--base-port', '42100'])).code, 0)
  const file = join(home, 'config.json')
  const config = JSON.parse(readFileSync(file, 'utf8'))
  writeFileSync(file, JSON.stringify({ ...config, storage: { postgres: { url: 'postgres://bulwark:Literal-Secret-1@db:5432/bulwark' } } }))
  const refused = await runCli(['--home', home, 'status', '--json'])
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /\/storage\/postgres\/url: carries a password: put it in `storage.postgres.passwordFile`/)
  assert.ok(!`${refused.stdout}${refused.stderr}`.includes('Literal-Secret-1'))

  writeFileSync(file, JSON.stringify({ ...config, storage: { postgres: { url: 'postgres://bulwark@db:5432/from-config' } } }))
  const env = { BULWARK_DATABASE_URL: 'postgres://operator:Env-Secret-2@127.0.0.1:1/from-env' }
  const json = await runCli(['--home', home, 'status', '--json'], env)
  assert.equal(json.code, 1, 'nothing is running')
  assert.deepEqual(JSON.parse(json.stdout).storage, { engine: 'postgres', host: '127.0.0.1', port: 1, database: 'from-env', user: 'operator' })
  const text = await runCli(['--home', home, 'status'], env)
  assert.match(text.stdout, /storage postgres 127\.0\.0\.1:1\/from-env as operator/)
  for (const run of [json, text]) assert.ok(!`${run.stdout}${run.stderr}`.includes('Env-Secret-2'))
})
