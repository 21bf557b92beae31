// Temporary IP, client and subject blocks raised by detectors, published to gateways
// on GET /v1/blocks?after=SEQ&wait=S (long-poll until a newer block exists).
import type { Clock, Database } from '@bulwark/core'
import type { BlockTarget } from './detect/types.ts'

export type Block = { seq: number; kind: BlockTarget; value: string; reason: string; alertId?: string; createdAt: string; expiresAt: string }
/** `entries` repeats `blocks` for generic long-poll clients (same shape as identity's revocation feed). */
export type BlockFeed = { seq: number; blocks: Block[]; entries: Block[] }

type BlockRow = { seq: number; kind: BlockTarget; value: string; reason: string; alert_id: string | null; created_at: number; expires_at: number }

export type BlockList = {
  add(block: { kind: BlockTarget; value: string; reason: string; alertId?: string; seconds: number }): Block
  /** Unexpired blocks with seq > after. */
  since(after: number): BlockFeed
  /** Like since, but waits up to `waitMs` for a newer block when there is none. */
  wait(after: number, waitMs: number): Promise<BlockFeed>
  isBlocked(kind: BlockTarget, value: string): boolean
  close(): void
}

// Feed positions are row ids + 1: position 0 means "before anything", so a
// client that starts at 0 always gets a position back that it can wait on.
function toBlock(row: BlockRow): Block {
  return {
    seq: row.seq + 1, kind: row.kind, value: row.value, reason: row.reason, ...(row.alert_id ? { alertId: row.alert_id } : {}),
    createdAt: new Date(row.created_at).toISOString(), expiresAt: new Date(row.expires_at).toISOString(),
  }
}

export function createBlockList(db: Database, clock: Clock): BlockList {
  const insert = db.prepare('INSERT INTO blocks (kind, value, reason, alert_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq')
  const after = db.prepare('SELECT seq, kind, value, reason, alert_id, created_at, expires_at FROM blocks WHERE seq > ? AND expires_at > ? ORDER BY seq LIMIT 10000')
  const maxSeq = db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM blocks')
  const active = db.prepare('SELECT 1 FROM blocks WHERE kind = ? AND value = ? AND expires_at > ? LIMIT 1')
  const waiters = new Set<() => void>()

  const position = () => (maxSeq.get() as { seq: number }).seq + 1

  function since(from: number): BlockFeed {
    const blocks = (after.all(from - 1, clock.now()) as BlockRow[]).map(toBlock)
    return { seq: position(), blocks, entries: blocks }
  }

  return {
    add(block) {
      const now = clock.now()
      const { seq } = insert.get(block.kind, block.value, block.reason, block.alertId ?? null, now, now + block.seconds * 1000) as { seq: number }
      for (const wake of [...waiters]) wake()
      return toBlock({ seq, kind: block.kind, value: block.value, reason: block.reason, alert_id: block.alertId ?? null, created_at: now, expires_at: now + block.seconds * 1000 })
    },
    since,
    async wait(from, waitMs) {
      // A cursor from the future (this store was reset): hand over everything that is active.
      if (from > position()) return since(0)
      const feed = since(from)
      if (feed.seq > from || waitMs <= 0) return feed
      await new Promise<void>((resolve) => {
        const wake = () => { clearTimeout(timer); waiters.delete(wake); resolve() }
        const timer = setTimeout(wake, waitMs)
        waiters.add(wake)
      })
      return since(from)
    },
    isBlocked: (kind, value) => active.get(kind, value, clock.now()) !== undefined,
    close() { for (const wake of [...waiters]) wake() },
  }
}
