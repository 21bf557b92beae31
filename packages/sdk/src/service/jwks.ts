// The identity provider's signing keys, fetched over mTLS from identity's
// internal `/oauth2/jwks` (never from the public URL) and kept in a key set:
// an unknown `kid` refetches, at most once per cooldown.
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose'
import type { Dispatcher } from 'undici'
import { request, systemClock, type Logger } from '@bulwark/core'
import { createKeySet } from './key-set.ts'

export type JwksOptions = {
  url: string
  dispatcher: Dispatcher
  /** Minimum time between two fetches caused by an unknown `kid`. */
  cooldownMs?: number
  cacheMaxAgeMs?: number
  timeoutMs?: number
  log?: Pick<Logger, 'warn'>
}

export function createJwksResolver(options: JwksOptions): JWTVerifyGetKey {
  const timeout = options.timeoutMs ?? 5_000
  const keys = createKeySet({
    clock: systemClock,
    log: (options.log ?? { warn: () => {} }) as Logger,
    refetchIntervalMs: options.cooldownMs ?? 10_000,
    maxAgeMs: options.cacheMaxAgeMs ?? 300_000,
    async fetchJwks() {
      const res = await request(options.url, { dispatcher: options.dispatcher, headersTimeout: timeout, bodyTimeout: timeout, headers: { accept: 'application/json' } })
      if (res.statusCode !== 200) {
        await res.body.dump()
        throw new Error(`JWKS answered ${res.statusCode}`)
      }
      return await res.body.json() as JSONWebKeySet
    },
  })
  return keys.getKey
}
