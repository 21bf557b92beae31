// Temporary IP, client and subject blocks raised by detectors, published to gateways
// on GET /v1/blocks?after=SEQ&wait=S (long-poll until a newer block exists).
import type { Clock, SqlExecutor, SqlStore } from '@bulwark/core'
import type { BlockTarget } from './detect/types.ts'

export type Block = { seq: number; kind: BlockTarget; value: string; reason: string; alertId?: string; createdAt: string; expiresAt: string }
/** `entries` repeats `blocks` for generic long-poll clients (same shape as identity's revocation feed). */
export type BlockFeed = { seq: number; blocks: Block[]; entries: Block[] }

type BlockRow = { seq: number; kind: BlockTarget; value: string; reason: string; alert_id: string | null; created_at: number; expires_at: number }

export type BlockList = {
  /** Stores a block inside the caller's transaction (the writer's); call `notify` once it committed. */
  add(tx: SqlExecutor, block: { kind: BlockTarget; value: string; reason: string; alertId?: string; seconds: number }): Promise<Block>
  /** Wakes the long-polls waiting here. */
  notify(): void
  /** Unexpired blocks with seq > after. */
  since(after: number): Promise<BlockFeed>
  /**
   * Like since, but waits up to `waitMs` for a newer block when there is none:
   * woken by this replica's own blocks, and looking at the store every second
   * for blocks another replica (the writer) stored.
   */
  wait(after: number, waitMs: number): Promise<BlockFeed>
  isBlocked(kind: BlockTarget, value: string): Promise<boolean>
  close(): void
}

const POLL_MS = 1000

// Feed positions are row ids + 1: position 0 means "before anything", so a
// client that starts at 0 always gets a position back that it can wait on.
function toBlock(row: BlockRow): Block {
  return {
    seq: row.seq + 1, kind: row.kind, value: row.value, reason: row.reason, ...(row.alert_id ? { alertId: row.alert_id } : {}),
    createdAt: new Date(row.created_at).toISOString(), expiresAt: new Date(row.expires_at).toISOString(),
  }
}

export function createBlockList(store: SqlStore, clock: Clock): BlockList {
  const waiters = new Set<() => void>()
  let closed = false

  const position = async () => (await store.one<{ seq: number }>('SELECT COALESCE(MAX(seq), 0) AS seq FROM blocks'))!.seq + 1

  async function since(from: number): Promise<BlockFeed> {
    // The position first: a block stored between the two reads is then sent again next time, never skipped.
    const seq = await position()
    const rows = await store.all<BlockRow>('SELECT seq, kind, value, reason, alert_id, created_at, expires_at FROM blocks WHERE seq > ? AND seq < ? AND expires_at > ? ORDER BY seq LIMIT 10000', [from - 1, seq, clock.now()])
    const blocks = rows.map(toBlock)
    return { seq, blocks, entries: blocks }
  }

  const nap = (ms: number) => new Promise<void>((resolve) => {
    const wake = () => { clearTimeout(timer); waiters.delete(wake); resolve() }
    const timer = setTimeout(wake, ms)
    waiters.add(wake)
  })

  return {
    async add(tx, block) {
      const now = clock.now()
      const row = (await tx.one<{ seq: number }>('INSERT INTO blocks (kind, value, reason, alert_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq',
        [block.kind, block.value, block.reason, block.alertId ?? null, now, now + block.seconds * 1000]))!
      return toBlock({ seq: row.seq, kind: block.kind, value: block.value, reason: block.reason, alert_id: block.alertId ?? null, created_at: now, expires_at: now + block.seconds * 1000 })
    },
    notify() { for (const wake of [...waiters]) wake() },
    since,
    async wait(from, waitMs) {
      // A cursor from the future (this store was reset): hand over everything that is active.
      if (from > await position()) return await since(0)
      let feed = await since(from)
      const until = Date.now() + waitMs
      while (feed.seq <= from && !closed) {
        const left = until - Date.now()
        if (left <= 0) break
        await nap(Math.min(left, POLL_MS))
        feed = await since(from)
      }
      return feed
    },
    isBlocked: async (kind, value) => (await store.one('SELECT 1 AS hit FROM blocks WHERE kind = ? AND value = ? AND expires_at > ? LIMIT 1', [kind, value, clock.now()])) !== undefined,
    close() {
      closed = true
      for (const wake of [...waiters]) wake()
    },
  }
}
