import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createValidateStage } from '../src/pipeline/validate.ts'
import { makeCtx, makeReq, outcome, routeOf } from './helpers-unit.ts'

const stage = createValidateStage({ maxBodyBytes: 1024, maxJsonDepth: 8 })
const profile = routeOf({
  methods: ['PATCH'], refuseUnknownFields: true,
  body: { type: 'object', properties: { displayName: { type: 'string', maxLength: 10 }, address: { type: 'object', properties: { city: { type: 'string' } } } } },
})
const listing = routeOf({ refuseUnknownFields: true, query: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 100 } } } })
const byId = routeOf({ path: '/x/:id', params: { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z0-9]+$' } } } })
const form = routeOf({ methods: ['POST'], contentTypes: ['application/x-www-form-urlencoded'] })

type Case = [string, ReturnType<typeof routeOf>, { method?: string; url?: string; type?: string; body?: string; params?: Record<string, string> }, string]
const cases: Case[] = [
  ['a valid body', profile, { method: 'PATCH', body: '{"displayName":"Al"}' }, 'ok'],
  ['an unknown top-level field', profile, { method: 'PATCH', body: '{"displayName":"Al","role":"admin"}' }, 'BW_VALIDATION_FAILED'],
  ['an unknown nested field', profile, { method: 'PATCH', body: '{"address":{"city":"x","zip":1}}' }, 'BW_VALIDATION_FAILED'],
  ['a too-long string', profile, { method: 'PATCH', body: '{"displayName":"abcdefghijklmnop"}' }, 'BW_VALIDATION_FAILED'],
  ['a missing body where one is required', profile, { method: 'PATCH' }, 'BW_VALIDATION_FAILED'],
  ['a JSON body with charset', profile, { method: 'PATCH', type: 'application/json; charset=utf-8', body: '{}' }, 'ok'],
  ['a body without a content type', profile, { method: 'PATCH', type: '', body: '{}' }, 'BW_UNSUPPORTED_MEDIA_TYPE'],
  ['text/plain', profile, { method: 'PATCH', type: 'text/plain', body: '{}' }, 'BW_UNSUPPORTED_MEDIA_TYPE'],
  ['invalid UTF-8', profile, { method: 'PATCH', body: '\xff\xfe' }, 'BW_INVALID_JSON'],
  ['duplicate keys', profile, { method: 'PATCH', body: '{"displayName":"a","displayName":"b"}' }, 'BW_DUPLICATE_JSON_KEY'],
  ['too deep', profile, { method: 'PATCH', body: `{"address":${'['.repeat(10)}${']'.repeat(10)}}` }, 'BW_JSON_TOO_DEEP'],
  ['too large', profile, { method: 'PATCH', body: `{"displayName":"${'a'.repeat(2000)}"}` }, 'BW_PAYLOAD_TOO_LARGE'],
  ['a GET with a body', listing, { method: 'GET', body: '{}' }, 'BW_BAD_REQUEST'],
  ['a valid query', listing, { url: '/x?limit=10' }, 'ok'],
  ['a query over the limit', listing, { url: '/x?limit=101' }, 'BW_VALIDATION_FAILED'],
  ['a non-numeric query', listing, { url: '/x?limit=ten' }, 'BW_VALIDATION_FAILED'],
  ['an unknown query parameter', listing, { url: '/x?debug=1' }, 'BW_VALIDATION_FAILED'],
  ['a repeated query parameter', listing, { url: '/x?limit=1&limit=2' }, 'BW_VALIDATION_FAILED'],
  ['a valid path parameter', byId, { params: { id: 'abc1' } }, 'ok'],
  ['a bad path parameter', byId, { params: { id: "1' OR 1=1" } }, 'BW_VALIDATION_FAILED'],
  ['a form body on a form route', form, { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'a=1' }, 'ok'],
  ['JSON on a form-only route', form, { method: 'POST', type: 'application/json', body: '{}' }, 'BW_UNSUPPORTED_MEDIA_TYPE'],
]
for (const [name, route, input, expected] of cases) {
  test(`validate: ${name} → ${expected}`, async () => {
    const req = makeReq({ method: input.method ?? 'GET', url: input.url ?? '/x', headers: input.type === '' ? {} : { 'content-type': input.type ?? 'application/json' } })
    if (input.body !== undefined) req.body = Buffer.from(input.body, 'latin1')
    assert.equal(await outcome(() => stage.run(req, makeCtx({ route, params: input.params ?? {} }))), expected)
  })
}

test('validation errors list the offending paths', async () => {
  const req = makeReq({ method: 'PATCH', headers: { 'content-type': 'application/json' } })
  req.body = Buffer.from('{"displayName":"Al","role":"admin"}')
  const error = await stage.run(req, makeCtx({ route: profile })).catch((e) => e)
  assert.deepEqual(error.extensions.errors, [{ path: '/body/role', message: 'unknown field' }])
})
