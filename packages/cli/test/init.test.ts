import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, statSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { homePaths } from '@bulwark/core'
import { tempDir } from '@bulwark/testkit'
import { runCli } from './helpers.ts'

test('init creates the home with owner-only keys and refuses to overwrite it', async (t) => {
  const dir = tempDir()
  t.after(dir.remove)
  const home = `${dir.path}/home`
  const first = await runCli(['--home', home, 'init'])
  assert.equal(first.code, 0, first.stderr)
  const paths = homePaths(home)
  for (const key of [paths.rootKey, paths.intermediateKey, paths.operatorKey, paths.masterKey, paths.config]) {
    assert.equal(statSync(key).mode & 0o777, 0o600, `${key} must be 0600`)
  }
  assert.equal(statSync(home).mode & 0o777, 0o700)
  const root = new X509Certificate(readFileSync(paths.rootCert))
  const operator = new X509Certificate(readFileSync(paths.operatorCert, 'utf8').split(/(?=-----BEGIN CERTIFICATE-----)/)[0]!)
  assert.match(operator.subjectAltName ?? '', /URI:spiffe:\/\/bulwark\.local\/operator\/admin/)
  assert.equal(operator.checkIssued(root), false, 'the root signs only the intermediate')
  const config = JSON.parse(readFileSync(paths.config, 'utf8'))
  assert.equal(config.components.gateway.port, 8443)

  const rootBefore = readFileSync(paths.rootKey, 'utf8')
  const second = await runCli(['--home', home, 'init'])
  assert.equal(second.code, 1)
  assert.match(second.stderr, /already exists.*--force/)
  assert.equal(readFileSync(paths.rootKey, 'utf8'), rootBefore, 'a refused init changes nothing')

  const forced = await runCli(['--home', home, 'init', '--force'])
  assert.equal(forced.code, 0, forced.stderr)
  assert.notEqual(readFileSync(paths.rootKey, 'utf8'), rootBefore)
})

test('bad usage exits 2 and names the problem', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['init', '--gateway-port', 'abc'], /--gateway-port.*integer/],
    [['init', '--bogus'], /unknown option `--bogus`/],
    [['frobnicate'], /unknown command `frobnicate`/],
    [['init', '--trust-domain', 'Bad Domain!'], /--trust-domain/],
  ]
  for (const [args, message] of cases) {
    using dir = tempDir()
    const result = await runCli(['--home', `${dir.path}/h`, ...args])
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`)
    assert.match(result.stderr, message)
  }
})

test('status without a home is a failed check that says what to do', async () => {
  using dir = tempDir()
  const result = await runCli(['--home', `${dir.path}/missing`, 'status', '--json'])
  assert.equal(result.code, 1)
  assert.match(result.stderr, /run `bulwark init` first/)
})

test('up with a malformed config names every bad key, starts nothing and exits 1', async () => {
  using dir = tempDir()
  const home = `${dir.path}/home`
  assert.equal((await runCli(['--home', home, 'init', '--base-port', '41000'])).code, 0)
  const { readFileSync: read, writeFileSync } = await import('node:fs')
  const config = JSON.parse(read(`${home}/config.json`, 'utf8'))
  config.components.gateway.port = 70000
  config.bogus = true
  config.svidTtlSeconds = 'an hour'
  writeFileSync(`${home}/config.json`, JSON.stringify(config))
  const result = await runCli(['--home', home, 'up'])
  assert.equal(result.code, 1)
  assert.match(result.stderr, /\/components\/gateway\/port: must be <= 65535/)
  assert.match(result.stderr, /\/bogus: unknown key/)
  assert.match(result.stderr, /\/svidTtlSeconds: must be integer/)
  assert.doesNotMatch(result.stdout, /ready/)
})
