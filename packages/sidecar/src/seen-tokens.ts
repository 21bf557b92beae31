// The tokens this sidecar verified and handed to its app, remembered (by
// SHA-256, never the token) until they expire. Egress accepts only these: the
// app can act for a caller only while it serves that caller's request, and a
// token from anywhere else (another service's, a user's edge token, one the
// app made up) is refused before identity is even asked.
import { createHash } from 'node:crypto'
import type { Clock } from '@bulwark/core'

export type SeenTokens = {
  remember(token: string, expiresAt: number | undefined): void
  /** True when `token` was forwarded to the app and has not expired. */
  has(token: string): boolean
  readonly size: number
}

const digest = (token: string) => createHash('sha256').update(token).digest('base64url')

export function createSeenTokens(options: { clock: Clock; limit?: number }): SeenTokens {
  const limit = options.limit ?? 10_000
  const seen = new Map<string, number>()
  return {
    get size() { return seen.size },
    remember(token, expiresAt) {
      if (expiresAt === undefined || expiresAt <= options.clock.now()) return
      const key = digest(token)
      if (seen.has(key)) return
      // Oldest first out; an evicted token's egress fails closed (401), it does not pass.
      if (seen.size >= limit) seen.delete(seen.keys().next().value!)
      seen.set(key, expiresAt)
    },
    has(token) {
      const key = digest(token)
      const expiresAt = seen.get(key)
      if (expiresAt === undefined) return false
      if (expiresAt > options.clock.now()) return true
      seen.delete(key)
      return false
    },
  }
}
