// The revocation feed gateways and services long-poll: subjects, clients and
// single token ids (jti) that are dead from `revokedAt` on. Entries expire
// once no token they could match is still alive.
//
// Positions (`seq`) must only ever grow in the order readers can see them: a
// reader that has passed seq N never looks below N again. On PostgreSQL two
// replicas publishing at once could commit seq 11 before seq 10 (a sequence
// hands out numbers before commit), so publishing takes a transaction-scoped
// advisory lock first: the next number is drawn only after the previous
// publisher committed. A waiting reader also polls the store, since a
// publish at another replica does not wake this one's waiters.
import type { Clock, SqlStore } from '@bulwark/core'
import { lockFor } from './database.ts'

export type RevocationKind = 'subject' | 'jti' | 'client'
export type RevocationEntry = { seq: number; kind: RevocationKind; value: string; revokedAt: number }

export type RevocationFeed = {
  publish(kind: RevocationKind, value: string, keepSeconds: number): Promise<RevocationEntry>
  after(seq: number, limit?: number): Promise<{ seq: number; entries: RevocationEntry[] }>
  /** Resolves when an entry after `seq` exists, or after `waitMs`. */
  wait(seq: number, waitMs: number): Promise<void>
  /** Whether a token (by subject, client, jti, issued-at seconds) has been revoked. */
  isRevoked(token: { sub?: string; client_id?: string; jti?: string; iat?: number }): Promise<boolean>
  close(): void
}

/** How often a waiting reader looks for entries other replicas published (PostgreSQL only). */
export const FEED_POLL_MS = 200

type Row = { seq: number; kind: RevocationKind; value: string; revoked_at: number; expires_at: number }

export function createRevocationFeed(db: SqlStore, clock: Clock): RevocationFeed {
  const waiters = new Set<() => void>()
  const head = async () => (await db.one<{ seq: number }>('SELECT COALESCE(MAX(seq), 0) AS seq FROM revocations'))!.seq
  const shared = db.dialect === 'postgres'
  return {
    async publish(kind, value, keepSeconds) {
      const now = clock.now()
      const row = await db.transaction(async (tx) => {
        await lockFor(tx, 'revocations')
        return await tx.one<{ seq: number }>('INSERT INTO revocations (kind, value, revoked_at, expires_at) VALUES (?, ?, ?, ?) RETURNING seq', [kind, value, now, now + keepSeconds * 1000])
      })
      for (const wake of [...waiters]) wake()
      return { seq: Number(row!.seq), kind, value, revokedAt: now }
    },
    async after(seq, limit = 1000) {
      // One statement, one snapshot: the position returned never skips an entry committed meanwhile.
      const rows = await db.all<Row>('SELECT seq, kind, value, revoked_at, expires_at FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?', [seq, limit])
      const now = clock.now()
      return {
        seq: rows.length > 0 ? Number(rows.at(-1)!.seq) : seq,
        entries: rows.filter((r) => r.expires_at > now).map((r) => ({ seq: Number(r.seq), kind: r.kind, value: r.value, revokedAt: r.revoked_at })),
      }
    },
    async wait(seq, waitMs) {
      if (waitMs <= 0 || await head() > seq) return
      const deadline = Date.now() + waitMs
      let woken = false
      const waitLocal = (ms: number) => new Promise<void>((resolve) => {
        const finish = () => { clearTimeout(timer); waiters.delete(wake); resolve() }
        const wake = () => { woken = true; finish() }
        const timer = setTimeout(finish, ms)
        waiters.add(wake)
      })
      if (!shared) return await waitLocal(waitMs)
      while (!woken && Date.now() < deadline) {
        await waitLocal(Math.min(FEED_POLL_MS, deadline - Date.now()))
        if (woken || await head() > seq) return
      }
    },
    async isRevoked(token) {
      // A missing claim is NULL, which equals nothing. `iat` has one-second resolution: a token from the revocation's own second counts as revoked (fail closed).
      const iatMs = (token.iat ?? 0) * 1000
      const row = await db.one(`SELECT 1 AS hit FROM revocations WHERE expires_at > ? AND (((kind = 'subject' AND value = ?) OR (kind = 'client' AND value = ?)) AND revoked_at >= ? OR (kind = 'jti' AND value = ?)) LIMIT 1`,
        [clock.now(), token.sub ?? null, token.client_id ?? null, iatMs, token.jti ?? null])
      return row !== undefined
    },
    close() {
      for (const wake of [...waiters]) wake()
    },
  }
}
