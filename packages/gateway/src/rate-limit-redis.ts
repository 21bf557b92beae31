// Rate-limit state in Redis, shared by every gateway replica: the same GCRA as
// the in-memory store, run atomically inside Redis by one Lua script, on
// Redis's own clock (replicas' clocks may disagree; one clock decides). When
// Redis is slow or down, each gateway falls back to its own in-memory store
// (per-replica limits still hold) rather than refusing everything or nothing,
// says so once per outage, and counts it. ioredis is loaded only when a
// gateway is configured for Redis (it costs ~17 MB of memory per process).
import type { Redis } from 'ioredis'
import type { Metrics } from '@bulwark/core'
import { createMemoryRateLimitStore, type RateLimitResult, type RateLimitRule, type RateLimitStore } from './rate-limit-store.ts'

// KEYS[1]: the bucket; ARGV: emission interval and tolerance in ms (fractions allowed).
// Returns {allowed, remaining, resetMs, retryAfterMs} as integers.
const GCRA = `
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + interval
if nxt - now > tolerance then
  return {0, 0, math.ceil(tat - now), math.ceil(nxt - now - tolerance)}
end
redis.call('SET', KEYS[1], tostring(nxt), 'PX', math.max(1, math.ceil(nxt - now)))
return {1, math.floor((tolerance - (nxt - now)) / interval), math.ceil(nxt - now), 0}
`

export type RedisRateLimitOptions = {
  /** `redis://[user:password@]host:port/db` or `rediss://…` for TLS. Credentials belong in the environment, not a config file. */
  url: string
  /** Key prefix, so several deployments can share one Redis. */
  prefix?: string
  /** Longest wait for Redis before this request is limited locally instead (ms). */
  timeoutMs?: number
  log: { warn(details: object, message: string): void; info(details: object, message: string): void }
  metrics?: Metrics
}

type GcraClient = Redis & { gcra(key: string, interval: number, tolerance: number): Promise<[number, number, number, number]> }

export function createRedisRateLimitStore(options: RedisRateLimitOptions): RateLimitStore & { close(): Promise<void> } {
  const prefix = options.prefix ?? 'bulwark:rl:'
  const timeoutMs = options.timeoutMs ?? 50
  let redis: GcraClient | undefined
  let closed = false
  const connecting = import('ioredis').then(({ Redis: RedisClient }) => {
    const client = new RedisClient(options.url, {
      commandTimeout: timeoutMs,
      enableOfflineQueue: false, // while disconnected, fail at once and limit locally
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
    }) as GcraClient
    client.defineCommand('gcra', { numberOfKeys: 1, lua: GCRA })
    client.on('error', () => {}) // reported through `degraded` below, once per outage
    if (closed) client.disconnect()
    redis = client
    // The first requests wait for the connection (at most a second); later ones never queue.
    return new Promise<GcraClient>((resolve) => {
      const timer = setTimeout(() => resolve(client), 1000)
      client.once('ready', () => { clearTimeout(timer); resolve(client) })
    })
  })
  let ready = false
  void connecting.then(() => { ready = true })
  const fallback = createMemoryRateLimitStore()
  const fallbacks = options.metrics?.counter('bulwark_gateway_rate_limit_fallback_total', 'Rate-limit decisions taken locally because Redis did not answer')
  let degraded = false

  return {
    async consume(key: string, rule: RateLimitRule, now: number): Promise<RateLimitResult> {
      try {
        const client = ready ? redis! : await connecting
        const [allowed, remaining, resetMs, retryAfterMs] = await client.gcra(`${prefix}${key}`, 1000 / rule.rate, (1000 / rule.rate) * rule.burst)
        if (degraded) {
          degraded = false
          options.log.info({}, 'rate-limit store: Redis answers again; limits are shared across gateways')
        }
        return { allowed: allowed === 1, remaining, resetMs, retryAfterMs }
      } catch (error) {
        if (!degraded) {
          degraded = true
          options.log.warn({ err: (error as Error).message }, 'rate-limit store: Redis unavailable; limiting per gateway until it is back')
        }
        fallbacks?.inc()
        return fallback.consume(key, rule, now)
      }
    },
    async close() {
      closed = true
      redis?.disconnect()
    },
  }
}
