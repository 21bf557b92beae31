// The Redis rate-limit store against a real redis-server on loopback (Debian's
// package; .ci/run installs it): replicas share one bucket, and a Redis outage
// falls back to per-gateway limits instead of failing open or closed.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createMetrics } from '@bulwark/core'
import { freePort } from '@bulwark/testkit'
import { createRedisRateLimitStore } from '../src/rate-limit-redis.ts'

const haveRedis = spawnSync('redis-server', ['--version']).status === 0
const skip = haveRedis ? false : 'redis-server is not installed (.ci/run installs Debian\'s redis-server)'
let server: ChildProcess | undefined
let port = 0
const logs: string[] = []
const log = { warn: (_o: object, msg: string) => { logs.push(`warn ${msg}`) }, info: (_o: object, msg: string) => { logs.push(`info ${msg}`) } }

async function startRedis(): Promise<void> {
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  server.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  const deadline = Date.now() + 10_000
  while (!/Ready to accept connections/.test(out)) {
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`redis-server did not start:\n${out}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function stopRedis(): Promise<void> {
  if (!server || server.exitCode !== null) return
  server.kill('SIGKILL')
  await once(server, 'exit')
}

before(async () => {
  if (!haveRedis) return
  port = await freePort()
  await startRedis()
})
after(stopRedis)

const rule = { name: 'client', rate: 1, burst: 3 }

test('two gateways share one bucket in Redis (GCRA on Redis\'s clock)', { skip }, async () => {
  const a = createRedisRateLimitStore({ url: `redis://127.0.0.1:${port}/0`, log, prefix: 'test-shared:' })
  const b = createRedisRateLimitStore({ url: `redis://127.0.0.1:${port}/0`, log, prefix: 'test-shared:' })
  try {
    const first = await a.consume('client:shop-cli', rule, Date.now())
    assert.deepEqual([first.allowed, first.remaining], [true, 2])
    assert.equal((await b.consume('client:shop-cli', rule, Date.now())).allowed, true)
    assert.equal((await a.consume('client:shop-cli', rule, Date.now())).allowed, true)
    const refused = await b.consume('client:shop-cli', rule, Date.now())
    assert.equal(refused.allowed, false, 'the fourth request within a second is over the shared burst of 3')
    assert.ok(refused.retryAfterMs > 900 && refused.retryAfterMs <= 1000, `retry after ~1 s (${refused.retryAfterMs} ms)`)
    assert.equal(refused.remaining, 0)
    // Another key, or another deployment's prefix, has its own bucket.
    assert.equal((await a.consume('client:reporting-job', rule, Date.now())).allowed, true)
    const other = createRedisRateLimitStore({ url: `redis://127.0.0.1:${port}/0`, log, prefix: 'test-other:' })
    assert.equal((await other.consume('client:shop-cli', rule, Date.now())).allowed, true)
    await other.close()
    assert.deepEqual(logs.filter((l) => l.startsWith('warn')), [])
  } finally {
    await a.close()
    await b.close()
  }
})

test('with Redis down, each gateway limits on its own (counted, said once) and answers at once', { skip }, async () => {
  const metrics = createMetrics('gateway')
  const store = createRedisRateLimitStore({ url: `redis://127.0.0.1:${port}/0`, log, metrics, prefix: 'test-down:' })
  try {
    assert.equal((await store.consume('ip:192.0.2.9', rule, Date.now())).allowed, true)
    await stopRedis()
    const started = performance.now()
    const results = []
    for (let i = 0; i < 4; i++) results.push(await store.consume('ip:192.0.2.9', rule, Date.now()))
    assert.ok(performance.now() - started < 1000, 'no request waits long for a Redis that is gone')
    assert.deepEqual(results.map((r) => r.allowed), [true, true, true, false], 'the local store still enforces the rule')
    assert.equal(logs.filter((l) => l.includes('Redis unavailable')).length, 1)
    const text = await metrics.registry.metrics()
    assert.equal(Number(/^bulwark_gateway_rate_limit_fallback_total\S* (\d+)$/m.exec(text)?.[1]), 4)
  } finally {
    await store.close()
  }
})

test('a gateway configured with rateLimit.redisUrl keeps its limits in Redis', { skip }, async () => {
  if (!server || server.exitCode !== null || server.signalCode !== null) await startRedis() // the outage test stopped it
  const { createWorld } = await import('./helpers.ts')
  const w = await createWorld({ config: { rateLimit: { redisUrl: `redis://127.0.0.1:${port}/0`, anonymous: { rate: 1, burst: 2 } } } })
  const { Redis } = await import('ioredis')
  const probe = new Redis(`redis://127.0.0.1:${port}/0`)
  try {
    assert.equal((await w.fetch('/api/catalog/products')).status, 200)
    assert.equal((await w.fetch('/api/catalog/products')).status, 200)
    const limited = await w.fetch('/api/catalog/products')
    assert.equal(limited.status, 429)
    assert.ok(Number(limited.headers['retry-after']) >= 1)
    const keys = await probe.keys('bulwark:rl:ip:*')
    assert.equal(keys.length, 1, `the anonymous bucket lives in Redis: ${keys.join(', ')}`)
  } finally {
    probe.disconnect()
    await w.close()
  }
})

test('a rateLimit.redisUrl that is not a redis:// or rediss:// URL is refused at start, naming the key', async () => {
  const { loadConfig } = await import('@bulwark/core')
  const { GatewayConfigSchema } = await import('../src/config.ts')
  for (const redisUrl of ['http://127.0.0.1:6379', 'file:///etc/passwd', '']) {
    assert.throws(() => loadConfig(GatewayConfigSchema, { value: { rateLimit: { redisUrl } }, source: 'gateway' }),
      (e: { code?: string; message: string }) => e.code === 'BW_CONFIG_INVALID' && e.message.includes('redisUrl'), redisUrl)
  }
  assert.equal(loadConfig(GatewayConfigSchema, { value: { rateLimit: { redisUrl: 'rediss://cache.internal:6380/1' } }, source: 'gateway' }).rateLimit.redisUrl, 'rediss://cache.internal:6380/1')
})
