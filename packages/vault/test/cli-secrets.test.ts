// Test fixture: every password, secret and token in this file is a made-up test value.
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { defaultPlatformConfig, homePaths, operatorSpiffeId, writeSecretFile } from '@bulwark/core'
import { createCliContext } from '../../cli/src/context.ts'
import { UsageError } from '../../cli/src/args.ts'
import { run, usage } from '../../cli/src/commands/secrets.ts'
import { startVault, type Harness } from './helpers.ts'

let h: Harness

before(async () => {
  h = await startVault()
  const paths = homePaths(h.home)
  const config = defaultPlatformConfig()
  config.trustDomain = h.ca.trustDomain
  config.components.vault!.port = Number(new URL(h.url).port)
  writeFileSync(paths.config, JSON.stringify(config))
  const op = await h.ca.issue(operatorSpiffeId(h.ca.trustDomain))
  writeSecretFile(paths.operatorKey, op.keyPem)
  writeSecretFile(paths.operatorCert, op.certPem + op.chainPem)
  writeSecretFile(paths.rootCert, h.ca.rootPem)
})
after(() => h.close())

async function cli(args: string[], options: { json?: boolean; stdin?: string } = {}): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const ctx = createCliContext({ home: h.home, json: options.json ?? false, out: (t) => { out += `${t}\n` }, err: (t) => { err += `${t}\n` } })
  try {
    const code = await run(args, ctx, { readStdin: async () => options.stdin ?? '' })
    return { code, out, err }
  } catch (error) {
    if (error instanceof UsageError) return { code: 2, out, err: error.message }
    return { code: (error as { exitCode?: number }).exitCode ?? 1, out, err: (error as Error).message }
  } finally {
    await ctx.close()
  }
}

test('put, get, list and delete through the operator certificate', async () => {
  const put = await cli(['put', 'shop/users/db', 'user=app', 'password=argv-value'])
  assert.equal(put.code, 0)
  assert.match(put.out, /wrote shop\/users\/db version 1/)
  const get = await cli(['get', 'shop/users/db'])
  assert.equal(get.code, 0)
  assert.match(get.out, /^user=app$/m)
  assert.match(get.out, /^password=argv-value$/m)
  const json = await cli(['get', 'shop/users/db', '--json'])
  assert.deepEqual(JSON.parse(json.out).data, { user: 'app', password: 'argv-value' })
  assert.equal((await cli(['get', 'shop/users/db', '--field', 'password'])).out, 'argv-value\n')
  assert.deepEqual(JSON.parse((await cli(['list', 'shop'], { json: true })).out).keys, ['users/'])
  const del = await cli(['delete', 'shop/users/db'])
  assert.equal(del.code, 0)
  const gone = await cli(['get', 'shop/users/db'])
  assert.equal(gone.code, 1)
  assert.match(gone.err, /BW_VAULT_VERSION_DELETED/)
  assert.equal((await cli(['get', 'shop/users/db', '--version', '1'])).code, 1)
  assert.equal((await cli(['undelete', 'shop/users/db'])).code, 2)
  assert.equal((await cli(['undelete', 'shop/users/db', '--versions', '1'])).code, 0)
  assert.equal((await cli(['get', 'shop/users/db', '--field', 'password'])).out, 'argv-value\n')
  assert.equal((await cli(['destroy', 'shop/users/db', '--versions', '1,9'])).code, 1, 'an unknown version changes nothing')
  assert.equal((await cli(['destroy', 'shop/users/db', '--versions', '1'])).code, 0)
  assert.match((await cli(['get', 'shop/users/db'])).err, /BW_VAULT_VERSION_DESTROYED/)
})

test('values from a file and from stdin keep secrets out of argv', async () => {
  const file = join(h.home, 'pw.txt')
  writeFileSync(file, 'from-file-value\n', { mode: 0o600 })
  const put = await cli(['put', 'ops/app', `password=@${file}`, 'token=-'], { stdin: 'from-stdin-value\n' })
  assert.equal(put.code, 0)
  const got = JSON.parse((await cli(['get', 'ops/app', '--json'])).out)
  assert.deepEqual(got.data, { password: 'from-file-value', token: 'from-stdin-value' })
  assert.match(usage, /KEY=@FILE/)
  assert.match(usage, /KEY=-/)
})

test('bad usage exits 2, failures exit 1, check-and-set is honoured', async () => {
  assert.equal((await cli([])).code, 2)
  assert.equal((await cli(['frobnicate'])).code, 2)
  assert.equal((await cli(['put', 'a/b'])).code, 2)
  assert.equal((await cli(['put', 'a/b', 'novalue'])).code, 2)
  assert.equal((await cli(['put', 'a/b', 'k=1', 'k=2'])).code, 2)
  assert.equal((await cli(['put', 'a/b', 'k=-', 'j=-'])).code, 2)
  assert.equal((await cli(['put', 'a/b', 'k=@/nonexistent/file'])).code, 2)
  assert.equal((await cli(['get', 'a/b', '--version', 'x'])).code, 2)
  assert.equal((await cli(['get', 'a/b', '--bogus'])).code, 2)
  assert.equal((await cli(['get', 'never/written'])).code, 1)
  assert.equal((await cli(['list', 'never'])).code, 1)
  assert.equal((await cli(['put', 'c/s', 'k=1', '--cas', '0'])).code, 0)
  const wrong = await cli(['put', 'c/s', 'k=2', '--cas', '0'])
  assert.equal(wrong.code, 1)
  assert.match(wrong.err, /BW_VAULT_CAS_MISMATCH/)
  assert.ok(!wrong.err.includes('k=2'))
})

test('rotate-kek and rewrap', async () => {
  const rotate = await cli(['rotate-kek', '--json'])
  assert.equal(rotate.code, 0)
  const version = JSON.parse(rotate.out).kekVersion
  const rewrap = await cli(['rewrap'])
  assert.equal(rewrap.code, 0)
  assert.ok(rewrap.out.includes(`under KEK ${version}`))
})
