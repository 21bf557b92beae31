// The identity provider's signing keys, fetched over mTLS from identity's
// internal `/oauth2/jwks` (never from the public URL) and cached by jose:
// an unknown `kid` refetches, at most once per cooldown.
import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose'
import { fetch, type Dispatcher } from 'undici'

export type JwksOptions = {
  url: string
  dispatcher: Dispatcher
  /** Minimum time between two fetches caused by an unknown `kid`. */
  cooldownMs?: number
  cacheMaxAgeMs?: number
  timeoutMs?: number
}

export function createJwksResolver(options: JwksOptions): JWTVerifyGetKey {
  const dispatcher = options.dispatcher
  return createRemoteJWKSet(new URL(options.url), {
    cooldownDuration: options.cooldownMs ?? 10_000,
    cacheMaxAge: options.cacheMaxAgeMs ?? 300_000,
    timeoutDuration: options.timeoutMs ?? 5_000,
    [customFetch]: (url, init) => fetch(url, { ...(init as object), dispatcher }) as unknown as Promise<Response>,
  })
}
