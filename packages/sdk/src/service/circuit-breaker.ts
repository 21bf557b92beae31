// A circuit breaker per upstream (the gateway's proxy, the sdk's callService):
// after `failures` consecutive failures it opens for `cooldownMs` (requests
// fail fast with 503), then lets one trial request through (half-open); a
// success closes it again.
import type { Clock } from '@bulwark/core'

export type CircuitBreaker = {
  /** Milliseconds until a request may be tried, 0 when it may go now. */
  blockedForMs(): number
  success(): void
  failure(): void
  readonly state: 'closed' | 'open' | 'half-open'
}

export function createCircuitBreaker(options: { failures: number; cooldownMs: number; clock: Clock }): CircuitBreaker {
  let consecutive = 0
  let openedAt = 0
  let state: CircuitBreaker['state'] = 'closed'
  let trialInFlight = false
  return {
    get state() { return state },
    blockedForMs() {
      if (state === 'closed') return 0
      const wait = openedAt + options.cooldownMs - options.clock.now()
      if (state === 'open' && wait <= 0) state = 'half-open'
      if (state === 'half-open') {
        if (trialInFlight) return Math.max(1000, wait)
        trialInFlight = true
        return 0
      }
      return Math.max(1, wait)
    },
    success() {
      consecutive = 0
      state = 'closed'
      trialInFlight = false
    },
    failure() {
      consecutive++
      trialInFlight = false
      if (state === 'half-open' || consecutive >= options.failures) {
        state = 'open'
        openedAt = options.clock.now()
      }
    },
  }
}
