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

/**
 * How long a revocation is kept. A revocation kills tokens issued before it, and identity's tokens live at most
 * 1 h (access tokens; exchanged ones 5 min): past 2 h every token it could kill has expired and is refused on `exp`
 * alone, so the entry goes (without this the list grew by one entry per logout, erasure or revoked token, forever).
 */
export const REVOCATION_RETENTION_MS = 2 * 60 * 60 * 1000

export function createRevocationList(options: { retainMs?: number; now?: () => number } = {}): RevocationList {
  const retainMs = options.retainMs ?? REVOCATION_RETENTION_MS
  const now = options.now ?? Date.now
  const subjects = new Map<string, number>()
  const clients = new Map<string, number>()
  const jtis = new Map<string, number>()
  let nextPrune = 0
  const dead = (map: Map<string, number>, key: unknown, iatMs: number) => {
    if (typeof key !== 'string') return false
    const at = map.get(key)
    return at !== undefined && iatMs <= at
  }
  /** Drops entries past the retention, at most once a minute (a pass walks every entry). */
  function prune(): void {
    const t = now()
    if (t < nextPrune) return
    nextPrune = t + 60_000
    for (const map of [subjects, clients, jtis]) for (const [key, at] of map) if (at < t - retainMs) map.delete(key)
  }
  return {
    get size() { return subjects.size + clients.size + jtis.size },
    apply(entries) {
      for (const entry of entries) {
        const value = typeof entry.value === 'string' ? entry.value : undefined
        if (!value) continue
        const at = parseTime(entry.revokedAt) ?? now()
        const map = entry.kind === 'jti' ? jtis : entry.kind === 'subject' ? subjects : entry.kind === 'client' ? clients : undefined
        map?.set(value, Math.max(at, map.get(value) ?? 0))
      }
      prune()
    },
    isRevoked(claims) {
      if (typeof claims.jti === 'string' && jtis.has(claims.jti)) return true
      const iatMs = typeof claims.iat === 'number' ? claims.iat * 1000 : Number.NEGATIVE_INFINITY
      return dead(subjects, claims.sub, iatMs) || dead(clients, claims.client_id, iatMs)
    },
  }
}
