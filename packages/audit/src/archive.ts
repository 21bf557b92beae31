// Retention: the oldest entries leave the live log for a signed segment file,
// and the log keeps a signed checkpoint at the cut, so it stays one Merkle
// tree (leaf indices continue; proofs from the cut on still work).
//
// A segment holds leaves [a, b): the checkpoint at a (when a > 0), one export
// line per entry and the tree head at b, signed now with the audit key; it
// verifies like an export (`bulwark audit verify --file`). Nothing is dropped
// silently: the rows are checked against the tree before they are written,
// the file is fsynced, read back and verified, an `audit.archived` event
// (range, segment, its SHA-256) is made durable, and only then are the rows
// deleted, with the checkpoint stored in the same transaction.
import { createHash, randomUUID } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { AuditActor, Clock, Logger, SqlExecutor } from '@bulwark/core'
import {
  canonicalJson, exportFileLines, exportLineFromLeaf, leafHash, signTreeHead, verifyExport, type Checkpoint, type SignedTreeHead,
} from '@bulwark/sdk/audit'
import type { RetentionConfig } from './config.ts'
import type { AuditLog } from './log.ts'
import type { TreeHeads } from './tree-heads.ts'
import type { SigningKey } from './signing-key.ts'
import { AuditErrors } from './errors.ts'

export const ARCHIVE_DIR = 'archive'
export const SEGMENT_NAME = /^segment-\d{16}-\d{16}\.jsonl$/
const CHUNK = 5000
const DAY_MS = 86_400_000

export type CheckpointRecord = Checkpoint & { firstIndex: number; segment: string; segmentSha256: string }
export type ArchiveResult = { segment: string; firstIndex: number; treeSize: number; sha256: string; treeHead: SignedTreeHead }

type CheckpointRow = {
  first_index: number; tree_size: number; root_hash: string; timestamp: number; signature: string; key_id: string
  frontier: string; segment: string; segment_sha256: string
}

/** The latest archive cut stored in the log's database, if any (read before the log is built: the tree starts there). */
export async function loadCheckpoint(db: SqlExecutor, publicKeyPem: string): Promise<CheckpointRecord | undefined> {
  const row = await db.one<CheckpointRow>('SELECT first_index, tree_size, root_hash, timestamp, signature, key_id, frontier, segment, segment_sha256 FROM checkpoints ORDER BY tree_size DESC LIMIT 1')
  if (!row) return undefined
  let frontier: string[]
  try {
    frontier = JSON.parse(row.frontier) as string[]
    if (!Array.isArray(frontier)) frontier = []
  } catch {
    frontier = []
  }
  return {
    firstIndex: row.first_index, segment: row.segment, segmentSha256: row.segment_sha256, frontier: frontier.map(String),
    treeHead: { treeSize: row.tree_size, rootHash: row.root_hash, timestamp: row.timestamp, signature: row.signature, keyId: row.key_id, publicKey: publicKeyPem },
  }
}

export type ArchiverDeps = {
  db: SqlExecutor
  log: AuditLog
  heads: TreeHeads
  key: SigningKey
  clock: Clock
  logger: Logger
  dir: string
  /** Who the service itself is, as the actor of a scheduled archive. */
  selfActor: AuditActor
  initial?: CheckpointRecord
}

export type Archiver = {
  readonly dir: string
  latest(): CheckpointRecord | undefined
  /** A cut another instance made (a follower catching up). */
  setLatest(record: CheckpointRecord): void
  /** The cut the retention limits ask for now (> the live log's first index), if any. */
  due(): Promise<number | undefined>
  /** Archives [base, upTo) (default: what the limits ask for); undefined when there is nothing to cut. One run at a time. */
  run(options?: { upTo?: number; actor?: AuditActor; requestId?: string }): Promise<ArchiveResult | undefined>
  /** Starts the schedule, and the check after commits that cross the entry cap. */
  start(): void
  stop(): Promise<void>
}

const pad = (n: number) => String(n).padStart(16, '0')

export function createArchiver(config: RetentionConfig, deps: ArchiverDeps): Archiver {
  const { db, log, heads, key } = deps
  let latest = deps.initial
  let running: Promise<unknown> = Promise.resolve()
  let busy = false
  let timer: NodeJS.Timeout | undefined

  const receivedMs = async (seq: number): Promise<number> => {
    const row = await db.one<{ data: string }>('SELECT data FROM entries WHERE seq = ?', [seq])
    try { return Date.parse(String((JSON.parse(row?.data ?? '{}') as { received?: string }).received)) } catch { return Number.NaN }
  }

  async function due(): Promise<number | undefined> {
    const base = log.base
    const size = log.size
    if (size <= base) return undefined
    // Past the entry cap: down to half of it (so a segment is not one entry).
    let cut = size - base > config.maxEntries ? size - Math.floor(config.maxEntries / 2) : base
    // Entries are appended in `received` order: binary search for the first one young enough to keep.
    const cutoff = deps.clock.now() - config.maxAgeDays * DAY_MS
    if (await receivedMs(base) < cutoff) {
      let lo = base
      let hi = size
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2)
        if (await receivedMs(mid) < cutoff) lo = mid + 1
        else hi = mid
      }
      cut = Math.max(cut, lo)
    }
    return cut > base ? cut : undefined
  }

  function fsyncDir(dir: string): void {
    const fd = openSync(dir, 'r')
    try { fsyncSync(fd) } finally { closeSync(fd) }
  }

  async function archive(options: { upTo?: number; actor?: AuditActor; requestId?: string }): Promise<ArchiveResult | undefined> {
    if (!log.bootIntegrity.ok) throw AuditErrors.logTampered()
    if (!log.writable) throw AuditErrors.notLeader()
    const first = log.base
    const cut = options.upTo ?? await due()
    if (cut === undefined || cut <= first) return undefined
    if (cut > log.size) throw AuditErrors.badQuery(`the log holds ${log.size} entries`)

    const treeHead: SignedTreeHead = { ...signTreeHead(key.privateKey, { treeSize: cut, rootHash: log.tree.root(cut), timestamp: deps.clock.now() }), publicKey: key.publicKeyPem }
    const frontier = log.tree.frontier(cut).map((h) => h.toString('hex'))
    const segment = `segment-${pad(first)}-${pad(cut)}.jsonl`
    mkdirSync(deps.dir, { recursive: true, mode: 0o700 })
    const path = join(deps.dir, segment)
    const temp = join(deps.dir, `.${segment}.${randomUUID()}.tmp`)
    const digest = createHash('sha256')
    const fd = openSync(temp, 'wx', 0o600)
    try {
      const write = (text: string) => { writeSync(fd, text); digest.update(text) }
      if (latest) write(`${canonicalJson({ checkpoint: { frontier: latest.frontier, treeHead: latest.treeHead } })}\n`)
      for (let from = first; from < cut; from += CHUNK) {
        const to = Math.min(from + CHUNK, cut)
        let text = ''
        const rows = await log.rows(from, to)
        for (let i = from, r = 0; i < to; i++, r++) {
          const row = rows[r]
          // The hash the log computed when it appended the entry: a row changed since does not get archived.
          if (!row || row.seq !== i || !leafHash(row.data).equals(log.tree.leafView(i))) throw AuditErrors.logTampered(`entry ${i} does not match the log; nothing archived`)
          text += `${exportLineFromLeaf(row.data, log.tree.leafView(i))}\n`
        }
        write(text)
        await new Promise((resolve) => setImmediate(resolve))
      }
      write(`${canonicalJson({ treeHead })}\n`)
      fsyncSync(fd)
    } catch (error) {
      closeSync(fd)
      rmSync(temp, { force: true })
      throw error
    }
    closeSync(fd)
    const sha256 = digest.digest('hex')
    // Read back from disk and verified exactly as an operator would, before anything is removed.
    const check = await verifyExport(exportFileLines(temp), { trustedPublicKey: key.publicKeyPem })
    if (!check.ok || check.firstIndex !== first || check.treeHead?.rootHash !== treeHead.rootHash || check.treeHead.treeSize !== cut) {
      rmSync(temp, { force: true })
      throw AuditErrors.archiveFailed(`the segment written for entries ${first} to ${cut - 1} does not verify: ${check.problem ?? 'wrong range'}`)
    }
    renameSync(temp, path)
    fsyncDir(deps.dir)

    await log.append([{
      id: randomUUID(), type: 'audit.archived', time: new Date(deps.clock.now()).toISOString(), component: 'audit',
      actor: options.actor ?? deps.selfActor, action: 'audit.archive', resource: `segment:${segment}`, outcome: 'success',
      ...(options.requestId ? { requestId: options.requestId } : {}),
      details: { firstIndex: first, treeSize: cut, entries: cut - first, segment, sha256, rootHash: treeHead.rootHash },
    }])
    const record: CheckpointRecord = { firstIndex: first, segment, segmentSha256: sha256, frontier, treeHead }
    await log.exclusive((writer) => log.prune(writer, cut, async (tx) => {
      await tx.run(`INSERT INTO checkpoints (first_index, tree_size, root_hash, timestamp, signature, key_id, frontier, segment, segment_sha256)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [first, cut, treeHead.rootHash, treeHead.timestamp, treeHead.signature, treeHead.keyId, JSON.stringify(frontier), segment, sha256])
      await heads.dropBelow(tx, cut)
    }))
    latest = record
    deps.logger.info({ firstIndex: first, treeSize: cut, segment, sha256 }, 'audit entries archived')
    return { segment, firstIndex: first, treeSize: cut, sha256, treeHead }
  }

  function run(options: { upTo?: number; actor?: AuditActor; requestId?: string } = {}): Promise<ArchiveResult | undefined> {
    const next = running.catch(() => undefined).then(async () => {
      busy = true
      try { return await archive(options) } finally { busy = false }
    })
    running = next
    return next
  }

  function scheduled(): void {
    if (busy || !log.bootIntegrity.ok || !log.writable) return
    busy = true
    due().then((cut) => {
      busy = false
      if (cut === undefined) return
      run().catch((error: unknown) => deps.logger.error({ err: error }, 'archiving audit entries failed; nothing was removed'))
    }, (error: unknown) => {
      busy = false
      deps.logger.error({ err: error }, 'checking the retention limits failed')
    })
  }

  return {
    dir: deps.dir,
    latest: () => latest,
    setLatest(record) { if (!latest || record.treeHead.treeSize > latest.treeHead.treeSize) latest = record },
    due,
    run,
    start() {
      if (!config.enabled) return
      timer = setInterval(scheduled, config.checkIntervalSeconds * 1000)
      timer.unref()
      log.onAppend(() => { if (log.size - log.base > config.maxEntries) setImmediate(scheduled) })
    },
    async stop() {
      if (timer) clearInterval(timer)
      await running.catch(() => undefined)
    },
  }
}

/** The path of a stored segment, when `name` is one. */
export function segmentPath(dir: string, name: string): string | undefined {
  if (!SEGMENT_NAME.test(name)) return undefined
  const path = join(dir, name)
  return existsSync(path) ? path : undefined
}
