// The revocation feed gateways and services long-poll: subjects, clients and
// single token ids (jti) that are dead from `revokedAt` on. Entries expire
// once no token they could match is still alive.
import type { Clock, Database } from '@bulwark/core'

export type RevocationKind = 'subject' | 'jti' | 'client'
export type RevocationEntry = { seq: number; kind: RevocationKind; value: string; revokedAt: number }

export type RevocationFeed = {
  publish(kind: RevocationKind, value: string, keepSeconds: number): RevocationEntry
  after(seq: number, limit?: number): { seq: number; entries: RevocationEntry[] }
  /** Resolves when an entry after `seq` exists, or after `waitMs`. */
  wait(seq: number, waitMs: number): Promise<void>
  /** Whether a token (by subject, client, jti, issued-at seconds) has been revoked. */
  isRevoked(token: { sub?: string; client_id?: string; jti?: string; iat?: number }): boolean
  close(): void
}

export function createRevocationFeed(db: Database, clock: Clock): RevocationFeed {
  const insert = db.prepare('INSERT INTO revocations (kind, value, revoked_at, expires_at) VALUES (?, ?, ?, ?)')
  const select = db.prepare('SELECT seq, kind, value, revoked_at FROM revocations WHERE seq > ? AND expires_at > ? ORDER BY seq LIMIT ?')
  const latest = db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM revocations')
  const match = db.prepare(`SELECT 1 FROM revocations WHERE expires_at > ? AND (((kind = 'subject' AND value = ?) OR (kind = 'client' AND value = ?)) AND revoked_at >= ? OR (kind = 'jti' AND value = ?)) LIMIT 1`)
  const waiters = new Set<() => void>()
  return {
    publish(kind, value, keepSeconds) {
      const now = clock.now()
      const result = insert.run(kind, value, now, now + keepSeconds * 1000)
      for (const wake of [...waiters]) wake()
      return { seq: Number(result.lastInsertRowid), kind, value, revokedAt: now }
    },
    after(seq, limit = 1000) {
      const rows = select.all(seq, clock.now(), limit) as Array<{ seq: number; kind: RevocationKind; value: string; revoked_at: number }>
      const head = (latest.get() as { seq: number }).seq
      return { seq: rows.length > 0 ? rows[rows.length - 1]!.seq : Math.max(seq, head), entries: rows.map((r) => ({ seq: r.seq, kind: r.kind, value: r.value, revokedAt: r.revoked_at })) }
    },
    async wait(seq, waitMs) {
      if ((latest.get() as { seq: number }).seq > seq || waitMs <= 0) return
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(timer); waiters.delete(done); resolve() }
        const timer = setTimeout(done, waitMs)
        waiters.add(done)
      })
    },
    isRevoked(token) {
      // `iat` has one-second resolution: a token from the revocation's own second counts as revoked (fail closed).
      const iatMs = (token.iat ?? 0) * 1000
      return match.get(clock.now(), token.sub ?? '\u0000', token.client_id ?? '\u0000', iatMs, token.jti ?? '\u0000') !== undefined
    },
    close() {
      for (const wake of [...waiters]) wake()
    },
  }
}
