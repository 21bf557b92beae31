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
