// The join endpoint is the CA's only unauthenticated route. Join tokens carry
// 256 bits, so guessing is hopeless, but each attempt costs a CSR signature
// check: refused attempts are limited per client address (a fixed one-minute
// window), so a misbehaving caller cannot keep the CA busy. Successes do not count.
import type { Clock } from '@bulwark/core'

export type JoinLimiter = {
  /** Seconds to wait when `ip` is over its budget, else 0. */
  retryAfter(ip: string): number
  recordFailure(ip: string): void
}

export function createJoinLimiter(options: { maxFailuresPerMinute: number; clock: Clock }): JoinLimiter {
  const windows = new Map<string, { start: number; failures: number }>()
  const WINDOW_MS = 60_000
  function current(ip: string) {
    const now = options.clock.now()
    let entry = windows.get(ip)
    if (!entry || now - entry.start >= WINDOW_MS) {
      if (windows.size > 10_000) for (const [key, value] of windows) if (now - value.start >= WINDOW_MS) windows.delete(key)
      entry = { start: now, failures: 0 }
      windows.set(ip, entry)
    }
    return { entry, now }
  }
  return {
    retryAfter(ip) {
      const { entry, now } = current(ip)
      if (entry.failures < options.maxFailuresPerMinute) return 0
      return Math.max(1, Math.ceil((entry.start + WINDOW_MS - now) / 1000))
    },
    recordFailure(ip) {
      current(ip).entry.failures += 1
    },
  }
}
