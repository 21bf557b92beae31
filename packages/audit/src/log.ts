// The append-only log: group commit into the store (one transaction, one
// fsync, for every batch that arrived while the previous commit ran). The
// leaves go into the in-memory Merkle tree as they are inserted and a tree
// head over the new root is signed inside the same transaction, so every
// acknowledged batch is covered by a signed head; a failed commit rolls the
// tree back. A batch is all-or-nothing. Duplicate event ids are
// acknowledged, not re-appended.
//
// Only the writer appends: on SQLite the service itself, on PostgreSQL the
// replica holding the leader lock, whose commits run on the very connection
// that holds it (leader.ts). Without a writer, `append` refuses (503) and
// `catchUp` follows what the writer committed, so reads stay served.
import type { AuditEvent, Clock, Logger, SqlExecutor, SqlStore, SqlValue } from '@bulwark/core'
import { createMerkleTree, entryLeafData, leafHash, type AuditLogEntry, type MerkleTree, type TreeStart } from '@bulwark/sdk/audit'
import type { EntryRow } from './store.ts'
import { AuditErrors } from './errors.ts'

export type AppendResult = { accepted: number; duplicates: number }
export type Integrity = { ok: true } | { ok: false; firstBadIndex?: number; problem: string; /** The bad entry lies below this index (signed-head checks). */ upTo?: number }

/** Where commits run: the store (SQLite) or the leader's own connection (PostgreSQL). */
export type Writer = { transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> }

export type AuditLog = {
  readonly tree: MerkleTree
  readonly size: number
  /** The first entry still in the live log (the latest archive cut, else 0). */
  readonly base: number
  /** True while this instance may append. */
  readonly writable: boolean
  setWriter(writer: Writer | undefined): void
  append(events: readonly AuditEvent[]): Promise<AppendResult>
  /** Runs `fn` with the writer between commits (nothing else writes meanwhile); refuses without one. */
  exclusive<T>(fn: (writer: Writer) => Promise<T>): Promise<T>
  onAppend(listener: (entries: readonly AuditLogEntry[]) => void): void
  /** What the boot-time rebuild found (a tampered store stops ingestion). */
  bootIntegrity: Integrity
  setBootIntegrity(integrity: Integrity): void
  /** Runs `fn` between commits (reads that must agree with the tree). */
  settled<T>(fn: () => Promise<T>): Promise<T>
  /**
   * Reads into the tree every stored entry from `size` on, through `read`
   * (a follower's snapshot, a new writer's catch-up); with `start`, first moves
   * the tree up to that archive cut made by another instance.
   */
  follow(read: SqlExecutor, start?: TreeStart): Promise<void>
  indexOfEvent(id: string): Promise<number | undefined>
  /**
   * Removes entries [base, size) (archived): deletes their rows and runs
   * `also` in the same transaction, then forgets them in the tree. Call it
   * inside `exclusive`.
   */
  prune(writer: Writer, size: number, also: (tx: SqlExecutor) => Promise<void>): Promise<void>
  /** Raw stored rows with seq in [start, end), in order. */
  rows(start: number, end: number): Promise<EntryRow[]>
  /** Stored entry bytes (`data`) matching a query, in the order asked. */
  query(q: { after: number; before?: number; type?: string; order: 'asc' | 'desc'; limit: number }): Promise<string[]>
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
  seal?: (tx: SqlExecutor, size: number, root: Buffer) => Promise<void>
  /** The latest archive checkpoint: the tree starts there and the rows from its size on. */
  start?: TreeStart
}

const REBUILD_CHUNK = 20_000
/** SQLite: one statement per entry; ON CONFLICT on the event id only, so a duplicate is skipped without a lookup first and any other conflict fails the commit. */
const INSERT_ONE = 'INSERT INTO entries (seq, event_id, type, data, leaf_hash) VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING'

/** PostgreSQL: the event ids of `ids` already in the log, in one round trip. */
async function storedIds(tx: SqlExecutor, ids: string[]): Promise<Set<string>> {
  const found = new Set<string>()
  if (ids.length === 0) return found
  for (const row of await tx.all<{ event_id: string }>('SELECT event_id FROM entries WHERE event_id = ANY(?::text[])', [ids as never])) found.add(row.event_id)
  return found
}

/** PostgreSQL: one multi-row insert per commit (`unnest` of five arrays: one round trip, one statement text). */
async function insertRows(tx: SqlExecutor, rows: Array<[number, string, string, string, Buffer]>): Promise<void> {
  if (rows.length === 0) return
  const columns = [0, 1, 2, 3, 4].map((c) => rows.map((r) => r[c]))
  await tx.run('INSERT INTO entries (seq, event_id, type, data, leaf_hash) SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::bytea[])', columns as never)
}

export async function createAuditLog(store: SqlStore, deps: LogDeps): Promise<AuditLog> {
  let tree = createMerkleTree(deps.start)
  const listeners: Array<(entries: readonly AuditLogEntry[]) => void> = []
  let bootIntegrity: Integrity = { ok: true }
  let writer: Writer | undefined

  // Everything that changes the tree takes turns: commits, cuts, catching up.
  let tail: Promise<unknown> = Promise.resolve()
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = tail.then(fn)
    tail = result.catch(() => {})
    return result
  }

  /** Appends stored rows from `tree.size` on, recomputing every leaf from its bytes. */
  async function readForward(read: SqlExecutor): Promise<void> {
    // A store that failed its check is not followed further (its rows no longer line up with the tree).
    if (!bootIntegrity.ok) return
    let expected = tree.size
    for (let last = tree.size - 1; ;) {
      const rows = await read.all<EntryRow>('SELECT seq, data, leaf_hash FROM entries WHERE seq > ? ORDER BY seq LIMIT ?', [last, REBUILD_CHUNK])
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
  }
  await readForward(store)

  let pending: Pending[] = []
  let scheduled = false

  async function commit(): Promise<void> {
    scheduled = false
    const group = pending
    pending = []
    const to = writer
    if (!to) {
      for (const item of group) item.reject(AuditErrors.notLeader())
      return
    }
    const received = new Date(deps.clock.now()).toISOString()
    const results: AppendResult[] = []
    const hashes: Buffer[] = []
    const entries: AuditLogEntry[] = []
    const before = tree.size
    try {
      await to.transaction(async (tx) => {
        // SQLite inserts row by row in-process (a duplicate id inserts nothing). PostgreSQL finds the
        // duplicates first (stored ones, and repeats within the group) and then inserts the group in one
        // statement: either way the new entries get consecutive indices.
        const batched = tx.dialect === 'postgres'
        const seen = batched ? await storedIds(tx, [...new Set(group.flatMap((item) => item.events.map((e) => e.id)))]) : new Set<string>()
        const rows: Array<[number, string, string, string, Buffer]> = []
        for (const item of group) {
          const result = { accepted: 0, duplicates: 0 }
          for (const event of item.events) {
            if (seen.has(event.id)) {
              result.duplicates += 1
              continue
            }
            const entry = { index: tree.size, received, event }
            const data = entryLeafData(entry)
            const hash = leafHash(data)
            if (batched) {
              seen.add(event.id)
              rows.push([entry.index, event.id, event.type, data, hash])
            } else if ((await tx.run(INSERT_ONE, [entry.index, event.id, event.type, data, hash])).changes === 0) {
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
        await insertRows(tx, rows)
        if (hashes.length > 0) await deps.seal?.(tx, tree.size, tree.root())
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

  const queries = {
    asc: (where: string) => `SELECT data FROM entries WHERE ${where} ORDER BY seq ASC LIMIT ?`,
    desc: (where: string) => `SELECT data FROM entries WHERE ${where} ORDER BY seq DESC LIMIT ?`,
  }

  return {
    get tree() { return tree },
    get size() { return tree.size },
    get base() { return tree.base },
    get writable() { return writer !== undefined },
    setWriter(next) { writer = next },
    async prune(to, size, also) {
      if (size <= tree.base) return
      await to.transaction(async (tx) => {
        await tx.run('DELETE FROM entries WHERE seq < ?', [size])
        await also(tx)
      })
      tree.prune(size)
    },
    exclusive(fn) {
      return serial(async () => {
        if (!writer) throw AuditErrors.notLeader()
        return await fn(writer)
      })
    },
    settled: (fn) => serial(fn),
    follow(read, start) {
      return serial(async () => {
        if (start && start.size > tree.base) {
          if (start.size <= tree.size) tree.prune(start.size)
          else tree = createMerkleTree(start)
        }
        await readForward(read)
      })
    },
    append(events) {
      if (events.length === 0) return Promise.resolve({ accepted: 0, duplicates: 0 })
      if (!writer) return Promise.reject(AuditErrors.notLeader())
      return new Promise<AppendResult>((resolve, reject) => {
        pending.push({ events, resolve, reject })
        if (!scheduled) {
          scheduled = true
          // One turn of the event loop first, so the requests already read join this commit.
          void serial(() => new Promise<void>((resolve) => setImmediate(resolve)).then(commit))
        }
      })
    },
    onAppend(listener) { listeners.push(listener) },
    get bootIntegrity() { return bootIntegrity },
    setBootIntegrity(integrity) { bootIntegrity = integrity },
    async indexOfEvent(id) {
      const row = await store.one<{ seq: number }>('SELECT seq FROM entries WHERE event_id = ?', [id])
      return row?.seq
    },
    rows(start, end) {
      return store.all<EntryRow>('SELECT seq, data, leaf_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq', [start, end])
    },
    async query(q) {
      const where = ['seq > ?']
      const params: SqlValue[] = [q.after]
      if (q.before !== undefined) { where.push('seq < ?'); params.push(q.before) }
      if (q.type !== undefined) { where.push('type = ?'); params.push(q.type) }
      const rows = await store.all<{ data: string }>(queries[q.order](where.join(' AND ')), [...params, q.limit])
      return rows.map((row) => row.data)
    },
  }
}
