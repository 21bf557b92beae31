// Token exchange against a small stand-in for identity's /oauth2/token over mTLS.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { attachMtls, createManualClock, createMtlsAgent, createServiceServer, createSilentLogger, expectSpiffeId, mtlsServerOptions, requirePeer } from '@bulwark/core'
import { createTestCa } from '@bulwark/testkit'
import { createTranslateStage } from '../src/pipeline/translate.ts'
import { makeCtx, makeReq, routeOf } from './helpers-unit.ts'
import type { Principal } from '../src/pipeline/types.ts'

const clock = createManualClock(Date.UTC(2026, 0, 1))
let identity: ReturnType<typeof createServiceServer>
let url = ''
let agent: ReturnType<typeof createMtlsAgent>
const seen: Array<Record<string, string>> = []
let answer: { status: number; body: Record<string, unknown> } = { status: 200, body: {} }

before(async () => {
  const ca = await createTestCa()
  const source = await ca.source('identity')
  identity = createServiceServer({ name: 'identity', log: createSilentLogger(), https: mtlsServerOptions(source) })
  attachMtls(identity.server as never, source)
  identity.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_r, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))))
  identity.post('/oauth2/token', async (request, reply) => {
    requirePeer(request, (id) => id.endsWith('/svc/gateway'))
    seen.push(request.body as Record<string, string>)
    return reply.code(answer.status).send(answer.body)
  })
  await identity.listen({ host: '127.0.0.1', port: 0 })
  url = `https://127.0.0.1:${(identity.server.address() as { port: number }).port}`
  agent = createMtlsAgent(await ca.source('gateway'), { verifyPeer: expectSpiffeId(`spiffe://${ca.trustDomain}/svc/identity`) })
})
after(async () => { await agent.close(); await identity.close() })

const alice = (exp: number): Principal => ({ kind: 'user', subject: 'alice', clientId: 'shop-cli', scopes: [], roles: [], claims: { exp } })
const stage = () => createTranslateStage({ identity: () => ({ url, dispatcher: agent }), audienceOf: (n) => `spiffe://bulwark.test/svc/${n}`, clientId: 'svc-gateway', cacheSize: 10, timeoutMs: 2000, clock })
const run = async (s: ReturnType<typeof stage>, token: string, route = routeOf({ upstream: 'orders' })) => {
  const ctx = makeCtx({ route, token, principal: alice(clock.now() / 1000 + 300) })
  await s.run(makeReq(), ctx)
  return ctx
}

test('exchanges the caller token for one addressed to the upstream, as RFC 8693 asks', async () => {
  answer = { status: 200, body: { access_token: 'internal-1', expires_in: 120, token_type: 'Bearer' } }
  seen.length = 0
  const ctx = await run(stage(), 'caller-token')
  assert.equal(ctx.upstreamToken, 'internal-1')
  assert.equal(seen[0]!.grant_type, 'urn:ietf:params:oauth:grant-type:token-exchange')
  assert.equal(seen[0]!.subject_token, 'caller-token')
  assert.equal(seen[0]!.subject_token_type, 'urn:ietf:params:oauth:token-type:access_token')
  assert.equal(seen[0]!.audience, 'spiffe://bulwark.test/svc/orders')
  assert.equal(seen[0]!.client_id, 'svc-gateway')
})

test('caches per token and audience until shortly before expiry', async () => {
  answer = { status: 200, body: { access_token: 'internal-2', expires_in: 60 } }
  seen.length = 0
  const s = stage()
  await run(s, 't2')
  await run(s, 't2')
  await Promise.all([run(s, 't3'), run(s, 't3')])
  assert.equal(seen.length, 2, 'one exchange per token, concurrent ones shared')
  await run(s, 't2', routeOf({ upstream: 'payments' }))
  assert.equal(seen.length, 3, 'a different audience is a different exchange')
  clock.advance(55_000)
  await run(s, 't2')
  assert.equal(seen.length, 4, 'refreshed inside the safety margin')
})

test('an exchange refusal is a 401, an identity failure a 502, and nothing is cached', async () => {
  const s = stage()
  answer = { status: 400, body: { error: 'invalid_grant' } }
  assert.equal((await run(s, 't4').catch((e) => e)).code, 'BW_GATEWAY_EXCHANGE_REFUSED')
  answer = { status: 500, body: {} }
  assert.equal((await run(s, 't4').catch((e) => e)).code, 'BW_GATEWAY_EXCHANGE_FAILED')
  answer = { status: 200, body: { access_token: 'ok', expires_in: 60 } }
  assert.equal((await run(s, 't4')).upstreamToken, 'ok')
})

test('public calls and routes that do not translate get no upstream token', async () => {
  const s = stage()
  const ctx = makeCtx({ route: routeOf({ upstream: 'identity', translate: false }), token: 'x', principal: alice(0) })
  await s.run(makeReq(), ctx)
  assert.equal(ctx.upstreamToken, undefined)
})
