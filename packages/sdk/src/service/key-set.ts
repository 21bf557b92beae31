// The issuer's signing keys (JWKS), fetched from identity over mTLS and kept
// locally. A token naming an unknown `kid` triggers at most one refetch per
// interval, so random kids cannot make a verifier flood identity; a failed
// refresh keeps the keys we have (RFC 7517 sets; rotation by publishing first).
// Used by the gateway and by every service (jwks.ts), instead of jose's remote
// set, which would also load Node's fetch (~17 MB per process) for one GET.
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import type { Clock, Logger } from '@bulwark/core'

export type KeySetOptions = {
  fetchJwks(): Promise<JSONWebKeySet>
  clock: Clock
  log: Logger
  refetchIntervalMs: number
  maxAgeMs: number
}

export type KeySet = {
  getKey: JWTVerifyGetKey
  refresh(): Promise<void>
  readonly fetches: number
  readonly loaded: boolean
}

export class KeysUnavailableError extends Error {}

export function createKeySet(options: KeySetOptions): KeySet {
  let local: ReturnType<typeof createLocalJWKSet> | undefined
  let fetchedAt = Number.NEGATIVE_INFINITY
  let attemptedAt = Number.NEGATIVE_INFINITY
  let inFlight: Promise<void> | undefined
  let fetches = 0

  function refresh(): Promise<void> {
    inFlight ??= (async () => {
      attemptedAt = options.clock.now()
      fetches++
      try {
        const jwks = await options.fetchJwks()
        if (!jwks || !Array.isArray(jwks.keys)) throw new Error('answer is not a JWK set')
        // Only public signing keys are usable; anything carrying private or symmetric material is dropped.
        const keys = jwks.keys.filter((k) => k.kty !== 'oct' && !('d' in k) && (k.use === undefined || k.use === 'sig'))
        local = createLocalJWKSet({ keys })
        fetchedAt = options.clock.now()
      } catch (error) {
        options.log.warn({ err: (error as Error).message }, 'jwks fetch failed; keeping previous keys')
        if (!local) throw new KeysUnavailableError('signing keys unavailable', { cause: error })
      } finally {
        inFlight = undefined
      }
    })()
    return inFlight
  }

  const getKey: JWTVerifyGetKey = async (header, token) => {
    const now = options.clock.now()
    if (!local) {
      if (now - attemptedAt < Math.min(options.refetchIntervalMs, 1000) && !inFlight) throw new KeysUnavailableError('signing keys unavailable')
      await refresh()
    } else if (now - fetchedAt > options.maxAgeMs && now - attemptedAt >= options.refetchIntervalMs) {
      void refresh().catch(() => {})
    }
    try {
      return await local!(header, token)
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw error
      if (options.clock.now() - attemptedAt < options.refetchIntervalMs) throw error
      await refresh()
      return await local!(header, token)
    }
  }

  return {
    getKey,
    refresh,
    get fetches() { return fetches },
    get loaded() { return local !== undefined },
  }
}
