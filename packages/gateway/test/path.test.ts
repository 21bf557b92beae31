import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseRequestTarget, isInternalPath } from '../src/path.ts'
import { parseStrictJson } from '../src/json.ts'

const code = (fn: () => unknown) => { try { fn(); return 'ok' } catch (e) { return (e as { code: string }).code } }

const targets: Array<[string, string]> = [
  ['/api/orders/1', 'ok'], ['/api/orders/1?limit=5&cursor=a%2Fb', 'ok'], ['/', 'ok'], ['/api/orders/', 'ok'], ['/api/caf%C3%A9', 'ok'],
  ['/api/../internal', 'BW_GATEWAY_PATH_REFUSED'], ['/api/./x', 'BW_GATEWAY_PATH_REFUSED'], ['/api/%2e%2e/x', 'BW_GATEWAY_PATH_REFUSED'],
  ['/api/%2E./x', 'BW_GATEWAY_PATH_REFUSED'], ['/api/a%2fb', 'BW_GATEWAY_PATH_REFUSED'], ['/api/a%5Cb', 'BW_GATEWAY_PATH_REFUSED'],
  ['/api/%252e%252e', 'BW_GATEWAY_PATH_REFUSED'], ['//api', 'BW_GATEWAY_PATH_REFUSED'], ['/api//x', 'BW_GATEWAY_PATH_REFUSED'],
  ['/api/a%00', 'BW_GATEWAY_PATH_REFUSED'], ['/api/a%zz', 'BW_GATEWAY_PATH_REFUSED'], ['/api/a b', 'BW_GATEWAY_PATH_REFUSED'],
  ['/api/a\\b', 'BW_GATEWAY_PATH_REFUSED'], ['http://h/x', 'BW_GATEWAY_PATH_REFUSED'], ['*', 'BW_GATEWAY_PATH_REFUSED'],
  ['/x?a=<script>', 'BW_GATEWAY_PATH_REFUSED'], ['/x#frag', 'BW_GATEWAY_PATH_REFUSED'], [`/${'a'.repeat(5000)}`, 'BW_URI_TOO_LONG'],
]
for (const [target, expected] of targets) {
  test(`request target ${JSON.stringify(target.slice(0, 40))} → ${expected}`, () => {
    assert.equal(code(() => parseRequestTarget(target, 4096)), expected)
  })
}

test('internal paths are recognised whatever their case', () => {
  for (const p of ['/internal', '/internal/x', '/INTERNAL/x']) assert.equal(isInternalPath(p), true)
  for (const p of ['/internals', '/api/internal', '/x']) assert.equal(isInternalPath(p), false)
})

const documents: Array<[string, string]> = [
  ['{"a":1,"b":{"a":2}}', 'ok'], ['[{"a":1},{"a":2}]', 'ok'], ['"plain"', 'ok'], ['{"a":"x\\"}","b":1}', 'ok'],
  ['{"a":1,"a":2}', 'BW_DUPLICATE_JSON_KEY'], ['{"a":1,"\\u0061":2}', 'BW_DUPLICATE_JSON_KEY'], ['{"x":{"k":1,"k":1}}', 'BW_DUPLICATE_JSON_KEY'],
  ['{"a":1,}', 'BW_INVALID_JSON'], ['{"a":', 'BW_INVALID_JSON'], ['{"a":"unterminated}', 'BW_INVALID_JSON'],
  [`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`, 'BW_JSON_TOO_DEEP'], [`${'['.repeat(33)}${']'.repeat(33)}`, 'BW_JSON_TOO_DEEP'],
]
for (const [text, expected] of documents) {
  test(`strict JSON ${JSON.stringify(text.slice(0, 30))} → ${expected}`, () => {
    assert.equal(code(() => parseStrictJson(text, 32)), expected)
  })
}
