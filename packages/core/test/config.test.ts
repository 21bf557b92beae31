import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { Type } from '@sinclair/typebox'
import { ConfigError, loadConfig } from '@bulwark/core'
import { tempDir } from '@bulwark/testkit'

const Schema = Type.Object({
  port: Type.Integer({ minimum: 1, maximum: 65535, default: 8080 }),
  mode: Type.Union([Type.Literal('a'), Type.Literal('b')], { default: 'a' }),
  nested: Type.Object({ limit: Type.Integer({ minimum: 1, default: 10 }) }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false })

test('layers defaults, file and environment, then freezes the result', () => {
  using dir = tempDir()
  const file = `${dir.path}/c.json`
  writeFileSync(file, JSON.stringify({ port: 9000, nested: { limit: 5 } }))
  const config = loadConfig(Schema, { file, env: { APP_MODE: 'mode', APP_LIMIT: 'nested.limit' }, environment: { APP_MODE: 'b', APP_LIMIT: '7' } })
  assert.deepEqual(config, { port: 9000, mode: 'b', nested: { limit: 7 } })
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.nested))
})

test('reports every bad key at once, each with its path and the expected form', () => {
  using dir = tempDir()
  const file = `${dir.path}/c.json`
  writeFileSync(file, JSON.stringify({ port: 'eighty', mode: 'c', extra: true, nested: { limit: 0, typo: 1 } }))
  let error: unknown
  try { loadConfig(Schema, { file }) } catch (e) { error = e }
  assert.ok(error instanceof ConfigError)
  const paths = error.issues.map((i) => i.path).sort()
  assert.deepEqual(paths, ['/extra', '/mode', '/nested/limit', '/nested/typo', '/port'])
  assert.match(error.message, /\/extra: unknown key/)
  assert.match(error.message, /\/port: must be integer/)
  assert.equal(error.code, 'BW_CONFIG_INVALID')
})

test('a missing file and invalid JSON are config errors that say so', () => {
  using dir = tempDir()
  assert.throws(() => loadConfig(Schema, { file: `${dir.path}/nope.json` }), /cannot read file: ENOENT/)
  writeFileSync(`${dir.path}/bad.json`, '{ "port": ')
  assert.throws(() => loadConfig(Schema, { file: `${dir.path}/bad.json` }), /not valid JSON/)
})

test('replicas: refused on SQLite, for the CA, audit and console, for a service behind the sidecar, and where a replica port is another listener\'s', async () => {
  const { checkReplicas, componentUrls, defaultPlatformConfig } = await import('../src/platform-config.ts')
  const config = defaultPlatformConfig({ basePort: 20000, gatewayPort: 20443 })
  config.components.vault!.replicas = 2
  assert.deepEqual(checkReplicas(config, false).map((i) => i.path), ['/components/vault/replicas'])
  assert.match(checkReplicas(config, false)[0]!.message, /replicas need PostgreSQL storage/)
  // vault is at 20003: its second replica would take 20004, identity's port.
  assert.deepEqual(checkReplicas(config, true).map((i) => [i.path, i.message]), [['/components/vault/port', 'port 20004 (`vault` replica 2) is also `identity`\'s: replicas take consecutive ports from `port`; leave room']])
  config.components.vault!.port = 20100
  assert.deepEqual(checkReplicas(config, true), [])
  assert.deepEqual(componentUrls(config, 'vault'), ['https://127.0.0.1:20100', 'https://127.0.0.1:20101'])
  config.components.gateway!.replicas = 3
  assert.deepEqual(checkReplicas(config, true), [], 'gateway replicas share their port')
  for (const name of ['ca', 'audit', 'console']) {
    const other = defaultPlatformConfig({ basePort: 20000 })
    other.components[name]!.replicas = 2
    assert.match(checkReplicas(other, true)[0]!.message, new RegExp(`\`${name}\` runs as one process`))
  }
  // A service behind the sidecar: every replica's app would want the one app port.
  const sidecar = defaultPlatformConfig({ basePort: 20000 })
  sidecar.components.legacy = { port: 20200, enabled: true, command: ['python3', 'app.py'], sidecar: { appPort: 20300 }, replicas: 2 } as never
  assert.deepEqual(checkReplicas(sidecar, true).map((i) => i.path), ['/components/legacy/replicas'])
})
