// Rate-limit state behind an interface (rate-limit-redis.ts implements the same
// `consume`), with the in-memory GCRA store used by one gateway process.
// GCRA (the generic cell rate algorithm): one "theoretical arrival time" per
// key; a request is allowed when it does not push that time past now + burst.

export type RateLimitRule = { name: string; rate: number; burst: number }

export type RateLimitResult = {
  allowed: boolean
  /** Requests still allowed right now. */
  remaining: number
  /** Milliseconds until the bucket is full again. */
  resetMs: number
  /** Milliseconds until a request would be allowed (0 when allowed). */
  retryAfterMs: number
}

export type RateLimitStore = {
  consume(key: string, rule: RateLimitRule, now: number): Promise<RateLimitResult> | RateLimitResult
}

export function createMemoryRateLimitStore(options: { maxKeys?: number } = {}): RateLimitStore & { readonly size: number } {
  const maxKeys = options.maxKeys ?? 100_000
  const tats = new Map<string, number>()
  function sweep(now: number): void {
    for (const [key, tat] of tats) if (tat <= now) tats.delete(key)
    // Still full of live keys: drop the oldest entries (Map keeps insertion order).
    for (const key of tats.keys()) {
      if (tats.size < maxKeys) break
      tats.delete(key)
    }
  }
  return {
    get size() { return tats.size },
    consume(key, rule, now) {
      const interval = 1000 / rule.rate
      const tolerance = interval * rule.burst
      const tat = Math.max(tats.get(key) ?? now, now)
      const next = tat + interval
      if (next - now > tolerance) {
        return { allowed: false, remaining: 0, resetMs: Math.ceil(tat - now), retryAfterMs: Math.ceil(next - now - tolerance) }
      }
      if (!tats.has(key) && tats.size >= maxKeys) sweep(now)
      tats.delete(key)
      tats.set(key, next)
      return { allowed: true, remaining: Math.floor((tolerance - (next - now)) / interval), resetMs: Math.ceil(next - now), retryAfterMs: 0 }
    },
  }
}
