// The append-only log: group commit into SQLite (one transaction, one fsync,
// for every batch that arrived while the previous commit ran). The leaves go
// into the in-memory Merkle tree as they are inserted and a tree head over
// the new root is signed inside the same transaction, so every acknowledged
// batch is covered by a signed head; a failed commit rolls the tree back.
// A batch is all-or-nothing. Duplicate event ids are acknowledged, not re-appended.
import type { AuditEvent, Clock, Database, Logger } from '@bulwark/core'
import { createMerkleTree, entryLeafData, leafHash, type AuditLogEntry, type MerkleTree, type TreeStart } from '@bulwark/sdk/audit'
import type { EntryRow } from './store.ts'

export type AppendResult = { accepted: number; duplicates: number }
export type Integrity = { ok: true } | { ok: false; firstBadIndex?: number; problem: string; /** The bad entry lies below this index (signed-head checks). */ upTo?: number }

export type AuditLog = {
  readonly tree: MerkleTree
  readonly size: number
  /** The first entry still in the live log (the latest archive cut, else 0). */
  readonly base: number
  append(events: readonly AuditEvent[]): Promise<AppendResult>
  onAppend(listener: (entries: readonly AuditLogEntry[]) => void): void
  /** What the boot-time rebuild found (a tampered store stops ingestion). */
  bootIntegrity: Integrity
  setBootIntegrity(integrity: Integrity): void
  indexOfEvent(id: string): number | undefined
  /**
   * Removes entries [base, size) (archived): deletes their rows and runs
   * `also` in the same transaction, then forgets them in the tree.
   */
  prune(size: number, also: () => void): void
  /** Raw stored rows with seq in [start, end), in order. */
  rows(start: number, end: number): EntryRow[]
  /** Stored entry bytes (`data`) matching a query, in the order asked. */
  query(q: { after: number; before?: number; type?: string; order: 'asc' | 'desc'; limit: number }): string[]
}

type Pending = { events: readonly AuditEvent[]; resolve(result: AppendResult): void; reject(error: unknown): void }

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

export type LogDeps = {
  clock: Clock
  log: Logger
  onCommit?: (count: number) => void
  /** Called inside each commit's transaction with the new size and root: signs a tree head in the same fsync. */
  seal?: (size: number, root: Buffer) => void
  /** The latest archive checkpoint: the tree starts there and the rows from its size on. */
  start?: TreeStart
}

export function createAuditLog(db: Database, deps: LogDeps): AuditLog {
  const tree = createMerkleTree(deps.start)
  // ON CONFLICT on the event id only: a duplicate is skipped without a lookup first; any other conflict still fails the commit.
  const insert = db.prepare('INSERT INTO entries (seq, event_id, type, data, leaf_hash) VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING')
  const byId = db.prepare('SELECT seq FROM entries WHERE event_id = ?')
  const range = db.prepare('SELECT seq, data, leaf_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq')
  const queries = new Map<string, ReturnType<Database['prepare']>>()
  const listeners: Array<(entries: readonly AuditLogEntry[]) => void> = []
  let bootIntegrity: Integrity = { ok: true }

  // Rebuild the tree from the store, recomputing every leaf from its bytes
  // (in chunks: `all()` on a range is much faster than iterating row by row).
  const chunk = db.prepare('SELECT seq, data, leaf_hash FROM entries WHERE seq > ? ORDER BY seq LIMIT 20000')
  let expected = tree.base
  for (let last = tree.base - 1; ;) {
    const rows = chunk.all(last) as EntryRow[]
    if (rows.length === 0) break
    for (const row of rows) {
      const hash = leafHash(row.data)
      if (bootIntegrity.ok) {
        if (row.seq !== expected) bootIntegrity = { ok: false, firstBadIndex: expected, problem: `entry ${expected} is missing from the store` }
        else if (!sameBytes(hash, row.leaf_hash)) bootIntegrity = { ok: false, firstBadIndex: expected, problem: `entry ${expected} does not match its recorded leaf hash` }
      }
      tree.append(hash)
      expected += 1
    }
    last = rows[rows.length - 1]!.seq
  }

  let pending: Pending[] = []
  let scheduled = false

  function commit(): void {
    scheduled = false
    const group = pending
    pending = []
    const received = new Date(deps.clock.now()).toISOString()
    const results: AppendResult[] = []
    const hashes: Buffer[] = []
    const entries: AuditLogEntry[] = []
    const before = tree.size
    try {
      db.transaction(() => {
        for (const item of group) {
          const result = { accepted: 0, duplicates: 0 }
          for (const event of item.events) {
            const entry = { index: tree.size, received, event }
            const data = entryLeafData(entry)
            const hash = leafHash(data)
            if (insert.run(entry.index, event.id, event.type, data, hash).changes === 0) {
              result.duplicates += 1
              continue
            }
            tree.append(hash)
            hashes.push(hash)
            entries.push(entry)
            result.accepted += 1
          }
          results.push(result)
        }
        if (hashes.length > 0) deps.seal?.(tree.size, tree.root())
      })
    } catch (error) {
      tree.truncate(before)
      deps.log.error({ err: error }, 'audit commit failed')
      for (const item of group) item.reject(error)
      return
    }
    deps.onCommit?.(hashes.length)
    group.forEach((item, i) => item.resolve(results[i]!))
    if (entries.length > 0) {
      for (const listener of listeners) {
        try { listener(entries) } catch (error) { deps.log.error({ err: error }, 'audit listener failed') }
      }
    }
  }

  return {
    tree,
    get size() { return tree.size },
    get base() { return tree.base },
    prune(size, also) {
      if (size <= tree.base) return
      db.transaction(() => {
        db.prepare('DELETE FROM entries WHERE seq < ?').run(size)
        also()
      })
      tree.prune(size)
    },
    append(events) {
      if (events.length === 0) return Promise.resolve({ accepted: 0, duplicates: 0 })
      return new Promise<AppendResult>((resolve, reject) => {
        pending.push({ events, resolve, reject })
        if (!scheduled) {
          scheduled = true
          setImmediate(commit)
        }
      })
    },
    onAppend(listener) { listeners.push(listener) },
    get bootIntegrity() { return bootIntegrity },
    setBootIntegrity(integrity) { bootIntegrity = integrity },
    indexOfEvent(id) {
      const row = byId.get(id) as { seq: number } | undefined
      return row?.seq
    },
    rows(start, end) {
      return range.all(start, end) as EntryRow[]
    },
    query(q) {
      const where = ['seq > ?']
      const params: Array<string | number> = [q.after]
      if (q.before !== undefined) { where.push('seq < ?'); params.push(q.before) }
      if (q.type !== undefined) { where.push('type = ?'); params.push(q.type) }
      const sql = `SELECT data FROM entries WHERE ${where.join(' AND ')} ORDER BY seq ${q.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ?`
      let statement = queries.get(sql)
      if (!statement) { statement = db.prepare(sql); queries.set(sql, statement) }
      return (statement.all(...params, q.limit) as Array<{ data: string }>).map((row) => row.data)
    },
  }
}
