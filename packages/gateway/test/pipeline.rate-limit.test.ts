import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createManualClock } from '@bulwark/core'
import { createRateLimitStage } from '../src/pipeline/rate-limit.ts'
import { createMemoryRateLimitStore } from '../src/rate-limit-store.ts'
import { createBlockList } from '../src/feeds/blocks.ts'
import { makeCtx, makeReq, outcome, routeOf } from './helpers-unit.ts'
import type { Principal } from '../src/pipeline/types.ts'

const alice: Principal = { kind: 'user', subject: 'alice', clientId: 'shop-cli', scopes: [], roles: [], claims: {} }

function setup(overrides: Record<string, unknown> = {}) {
  const clock = createManualClock(Date.UTC(2026, 0, 1))
  const store = createMemoryRateLimitStore()
  const blocks = createBlockList()
  const base = { enabled: true, anonymous: { rate: 10, burst: 3 }, client: { rate: 100, burst: 5 }, user: { rate: 50, burst: 4 }, store, clock, blocks, ...overrides }
  return { clock, store, blocks, ip: createRateLimitStage({ ...base, phase: 'ip' }), identity: createRateLimitStage({ ...base, phase: 'identity' }) }
}

test('GCRA allows the burst, then refuses with Retry-After, then refills at the rate', async () => {
  const { ip, clock } = setup()
  const results: string[] = []
  for (let i = 0; i < 4; i++) results.push(await outcome(() => ip.run(makeReq(), makeCtx())))
  assert.deepEqual(results, ['ok', 'ok', 'ok', 'BW_RATE_LIMITED'])
  clock.advance(100) // one emission interval at 10/s
  assert.equal(await outcome(() => ip.run(makeReq(), makeCtx())), 'ok')
  assert.equal(await outcome(() => ip.run(makeReq(), makeCtx())), 'BW_RATE_LIMITED')
})

test('a refusal carries Retry-After and the RateLimit headers of the rule', async () => {
  const { ip } = setup()
  const ctx = makeCtx()
  for (let i = 0; i < 3; i++) await ip.run(makeReq(), makeCtx())
  const error = await ip.run(makeReq(), ctx).catch((e) => e)
  assert.equal(error.status, 429)
  assert.equal(error.headers['retry-after'], '1')
  assert.equal(ctx.responseHeaders['ratelimit-policy'], '"anonymous";q=3;w=1')
  assert.match(ctx.responseHeaders['ratelimit']!, /^"anonymous";r=0;t=\d+$/)
})

test('keys are separate per IP', async () => {
  const { ip } = setup()
  for (let i = 0; i < 3; i++) await ip.run(makeReq(), makeCtx({ clientIp: '192.0.2.1' }))
  assert.equal(await outcome(() => ip.run(makeReq(), makeCtx({ clientIp: '192.0.2.1' }))), 'BW_RATE_LIMITED')
  assert.equal(await outcome(() => ip.run(makeReq(), makeCtx({ clientIp: '192.0.2.2' }))), 'ok')
})

test('requests with a recently verified token are limited per client and user, not per IP', async () => {
  const { clock, store, blocks } = setup()
  const ip = createRateLimitStage({ enabled: true, anonymous: { rate: 1, burst: 1 }, client: { rate: 100, burst: 5 }, user: { rate: 1, burst: 2 }, store, clock, blocks, phase: 'ip', hasKnownToken: () => true })
  const identity = createRateLimitStage({ enabled: true, anonymous: { rate: 1, burst: 1 }, client: { rate: 100, burst: 5 }, user: { rate: 1, burst: 2 }, store, clock, blocks, phase: 'identity' })
  const run = async () => outcome(async () => { const ctx = makeCtx(); await ip.run(makeReq(), ctx); ctx.principal = alice; await identity.run(makeReq(), ctx) })
  assert.deepEqual([await run(), await run(), await run()], ['ok', 'ok', 'BW_RATE_LIMITED'])
})

test('per-route limits apply on top', async () => {
  const { identity } = setup()
  const route = routeOf({ rateLimit: { rate: 1, burst: 1 } })
  assert.equal(await outcome(() => identity.run(makeReq(), makeCtx({ route, principal: alice }))), 'ok')
  assert.equal(await outcome(() => identity.run(makeReq(), makeCtx({ route, principal: alice }))), 'BW_RATE_LIMITED')
})

test('temporary blocks refuse an IP, a client or a subject until they expire', async () => {
  const { ip, identity, blocks, clock } = setup()
  blocks.apply([{ kind: 'ip', value: '192.0.2.66', until: clock.now() + 5000 }, { kind: 'client', value: 'shop-cli', expiresAt: new Date(clock.now() + 5000).toISOString() }], clock.now())
  const blockedIp = await ip.run(makeReq(), makeCtx({ clientIp: '192.0.2.66' })).catch((e) => e)
  assert.equal(blockedIp.code, 'BW_GATEWAY_BLOCKED')
  assert.equal(blockedIp.headers['retry-after'], '5')
  assert.equal(await outcome(() => identity.run(makeReq(), makeCtx({ principal: alice }))), 'BW_GATEWAY_BLOCKED')
  clock.advance(5001)
  assert.equal(await outcome(() => ip.run(makeReq(), makeCtx({ clientIp: '192.0.2.66' }))), 'ok')
  assert.equal(await outcome(() => identity.run(makeReq(), makeCtx({ principal: alice }))), 'ok')
})

test('the memory store stays bounded', () => {
  const store = createMemoryRateLimitStore({ maxKeys: 100 })
  for (let i = 0; i < 1000; i++) store.consume(`k${i}`, { name: 'x', rate: 1, burst: 10 }, 0)
  assert.ok(store.size <= 100)
})
