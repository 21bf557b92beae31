import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { request } from 'undici'
import { BulwarkError, createHealth, createLogger, createMetrics, createServiceServer, createSilentLogger, CoreErrors, toProblem } from '@bulwark/core'

test('exposed errors render as RFC 9457 problems; internal ones reveal only the request id', () => {
  const exposed = toProblem(CoreErrors.forbidden('route `orders.get`: scope `orders:read` missing'), 'req-123')
  assert.deepEqual(
    { type: exposed.type, title: exposed.title, status: exposed.status, detail: exposed.detail, instance: exposed.instance, code: exposed.code },
    { type: 'https://bulwark.dev/problems/bw-forbidden', title: 'Forbidden', status: 403, detail: 'route `orders.get`: scope `orders:read` missing', instance: 'req-123', code: 'BW_FORBIDDEN' },
  )
  const internal = toProblem(new Error('db password=hunter2 at /srv/x.ts:12'), 'req-9')
  assert.equal(internal.status, 500)
  assert.equal(internal.instance, 'req-9')
  assert.doesNotMatch(JSON.stringify(internal), /hunter2|x\.ts/)
  const hidden = toProblem(new BulwarkError('BW_X', 503, 'upstream pool exhausted at 10.0.0.1'), 'r')
  assert.doesNotMatch(JSON.stringify(hidden), /10\.0\.0\.1/)
})

test('the log redacts credentials wherever they appear', () => {
  const lines: string[] = []
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const log = createLogger({ name: 't', destination: sink as never })
  log.info({ req: { headers: { authorization: 'Bearer eyJabc', cookie: 'sid=s3cr3t' } }, password: 'hunter2', body: { client_secret: 'cs-1', refresh_token: 'rt-1' }, user: { totpSecret: 'JBSWY3DP' } }, 'event')
  const text = lines.join('')
  for (const secret of ['eyJabc', 's3cr3t', 'hunter2', 'cs-1', 'rt-1', 'JBSWY3DP']) assert.ok(!text.includes(secret), `${secret} leaked: ${text}`)
  assert.match(text, /\[redacted\]/)
})

test('a service server answers health, readiness, metrics, request ids and problem+json 404s', async (t) => {
  const health = createHealth()
  const metrics = createMetrics('svc')
  metrics.counter('svc_things_total', 'things').inc()
  const app = createServiceServer({ name: 'svc', log: createSilentLogger(), health, metrics })
  app.get('/boom', async () => { throw new Error('secret detail') })
  app.post('/echo', { schema: { body: { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'], additionalProperties: false } } }, async (req) => req.body)
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.after(() => app.close())
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`

  assert.equal((await request(`${base}/healthz`)).statusCode, 503, 'not live before start-up completes')
  health.setReady(true)
  assert.equal((await request(`${base}/healthz`)).statusCode, 200)
  health.addCheck('db', () => false)
  const ready = await request(`${base}/readyz`)
  assert.equal(ready.statusCode, 503)
  assert.deepEqual(((await ready.body.json()) as { checks: Record<string, boolean> }).checks, { db: false, started: true })
  assert.match(await (await request(`${base}/metrics`)).body.text(), /svc_things_total\{component="svc"\} 1/)

  const missing = await request(`${base}/nope`)
  const problem = await missing.body.json() as { status: number; instance: string }
  assert.equal(missing.statusCode, 404)
  assert.equal(missing.headers['content-type'], 'application/problem+json; charset=utf-8')
  assert.equal(problem.instance, missing.headers['x-request-id'])

  const boom = await request(`${base}/boom`)
  assert.equal(boom.statusCode, 500)
  assert.doesNotMatch(await boom.body.text(), /secret detail/)

  const invalid = await request(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1,"b":2}' })
  const invalidProblem = await invalid.body.json() as { code: string; errors: Array<{ path: string }> }
  assert.equal(invalid.statusCode, 400)
  assert.equal(invalidProblem.code, 'BW_VALIDATION_FAILED')
  assert.deepEqual(invalidProblem.errors.map((e) => e.path), ['/b'])
  const badJson = await request(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' })
  assert.equal(badJson.statusCode, 400)
  assert.equal(badJson.headers['content-type'], 'application/problem+json; charset=utf-8')
})
