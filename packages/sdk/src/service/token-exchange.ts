// RFC 8693 token exchange at identity's `/oauth2/token`, over mTLS: this
// workload authenticates as client `svc-<name>` with its SVID
// (tls_client_auth, RFC 8705 §2), asks for a token whose audience is the
// target's SPIFFE ID, and caches the result until shortly before it expires.
// The subject token is only ever a cache key through its SHA-256.
import { createHash } from 'node:crypto'
import { request } from '@bulwark/core'
import type { Dispatcher } from 'undici'
import type { Clock } from '@bulwark/core'
import { ServiceErrors } from './errors.ts'

export type TokenExchangeOptions = {
  /** identity's token endpoint (internal URL + `/oauth2/token`). */
  tokenUrl: string
  dispatcher: Dispatcher
  clientId: string
  clock: Clock
  /** Refresh this long before `expires_in` runs out. */
  skewMs?: number
  cacheSize?: number
  timeoutMs?: number
}

export type TokenExchange = {
  exchange(subjectToken: string, audience: string, requestId?: string): Promise<string>
  readonly cacheSize: number
}

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'

export function createTokenExchange(options: TokenExchangeOptions): TokenExchange {
  const cache = new Map<string, { token: string; expiresAt: number }>()
  const inflight = new Map<string, Promise<string>>()
  const limit = options.cacheSize ?? 1000
  const skew = options.skewMs ?? 15_000

  async function fetchToken(subjectToken: string, audience: string, requestId?: string): Promise<{ token: string; expiresAt: number }> {
    const form = new URLSearchParams({
      grant_type: GRANT, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN,
      requested_token_type: ACCESS_TOKEN, audience, client_id: options.clientId,
    })
    let response: Dispatcher.ResponseData
    try {
      response = await request(options.tokenUrl, {
        method: 'POST', dispatcher: options.dispatcher, body: form.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...(requestId ? { 'x-request-id': requestId } : {}) },
        headersTimeout: options.timeoutMs ?? 5000, bodyTimeout: options.timeoutMs ?? 5000,
      })
    } catch (error) {
      throw ServiceErrors.exchangeFailed(undefined, { cause: error })
    }
    const body = await response.body.json().catch(() => ({})) as { access_token?: unknown; expires_in?: unknown; error?: unknown }
    if (response.statusCode >= 400 && response.statusCode < 500) {
      const code = typeof body.error === 'string' ? body.error.slice(0, 64) : 'error'
      throw ServiceErrors.exchangeRefused(`token exchange refused: \`${code}\``)
    }
    if (response.statusCode !== 200 || typeof body.access_token !== 'string') throw ServiceErrors.exchangeFailed()
    const ttl = typeof body.expires_in === 'number' ? body.expires_in * 1000 : 60_000
    return { token: body.access_token, expiresAt: options.clock.now() + ttl }
  }

  return {
    get cacheSize() { return cache.size },
    async exchange(subjectToken, audience, requestId) {
      const key = createHash('sha256').update(audience).update('\0').update(subjectToken).digest('base64url')
      const hit = cache.get(key)
      if (hit && hit.expiresAt - skew > options.clock.now()) return hit.token
      cache.delete(key)
      const pending = inflight.get(key)
      if (pending) return await pending
      const promise = fetchToken(subjectToken, audience, requestId).then((result) => {
        if (cache.size >= limit) cache.delete(cache.keys().next().value!)
        if (result.expiresAt - skew > options.clock.now()) cache.set(key, result)
        return result.token
      }).finally(() => inflight.delete(key))
      inflight.set(key, promise)
      return await promise
    },
  }
}
