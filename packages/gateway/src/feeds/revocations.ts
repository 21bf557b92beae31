// Revocations published by identity (`GET /admin/v1/revocations`): a token of a
// revoked subject or client issued at or before `revokedAt`, or with a revoked
// `jti`, is dead. Checked on every request, cached verification or not.
import type { FeedEntry } from './long-poll.ts'
import { parseTime } from './long-poll.ts'

export type RevocationList = {
  apply(entries: FeedEntry[]): void
  /** True when the token with these claims has been revoked. */
  isRevoked(claims: { sub?: unknown; client_id?: unknown; jti?: unknown; iat?: unknown }): boolean
  readonly size: number
}

export function createRevocationList(): RevocationList {
  const subjects = new Map<string, number>()
  const clients = new Map<string, number>()
  const jtis = new Set<string>()
  const dead = (map: Map<string, number>, key: unknown, iatMs: number) => {
    if (typeof key !== 'string') return false
    const at = map.get(key)
    return at !== undefined && iatMs <= at
  }
  return {
    get size() { return subjects.size + clients.size + jtis.size },
    apply(entries) {
      for (const entry of entries) {
        const value = typeof entry.value === 'string' ? entry.value : undefined
        if (!value) continue
        const at = parseTime(entry.revokedAt) ?? Date.now()
        if (entry.kind === 'jti') jtis.add(value)
        else if (entry.kind === 'subject') subjects.set(value, Math.max(at, subjects.get(value) ?? 0))
        else if (entry.kind === 'client') clients.set(value, Math.max(at, clients.get(value) ?? 0))
      }
    },
    isRevoked(claims) {
      if (typeof claims.jti === 'string' && jtis.has(claims.jti)) return true
      const iatMs = typeof claims.iat === 'number' ? claims.iat * 1000 : Number.NEGATIVE_INFINITY
      return dead(subjects, claims.sub, iatMs) || dead(clients, claims.client_id, iatMs)
    },
  }
}
