// Temporary blocks raised by the audit service's detectors
// (`GET /v1/blocks?after=&wait=`): an IP, client or subject refused until a time.
import type { FeedEntry } from './long-poll.ts'
import { parseTime } from './long-poll.ts'

export type BlockKind = 'ip' | 'client' | 'subject'

export type BlockList = {
  apply(entries: FeedEntry[], now: number): void
  /** Milliseconds the block still lasts, 0 when not blocked. */
  remainingMs(kind: BlockKind, value: string, now: number): number
  block(kind: BlockKind, value: string, untilMs: number): void
}

export function createBlockList(options: { defaultMs?: number } = {}): BlockList {
  const blocks = new Map<string, number>()
  const defaultMs = options.defaultMs ?? 15 * 60_000
  const list: BlockList = {
    apply(entries, now) {
      for (const entry of entries) {
        const kind = entry.kind
        const value = entry.value
        if ((kind !== 'ip' && kind !== 'client' && kind !== 'subject') || typeof value !== 'string') continue
        if (entry.released === true || entry.action === 'release') {
          blocks.delete(`${kind}:${value}`)
          continue
        }
        const until = parseTime(entry.until ?? entry.expiresAt) ?? now + defaultMs
        list.block(kind, value, until)
      }
    },
    remainingMs(kind, value, now) {
      if (blocks.size === 0) return 0
      const key = `${kind}:${value}`
      const until = blocks.get(key)
      if (until === undefined) return 0
      if (until <= now) {
        blocks.delete(key)
        return 0
      }
      return until - now
    },
    block(kind, value, untilMs) {
      blocks.set(`${kind}:${value}`, Math.max(untilMs, blocks.get(`${kind}:${value}`) ?? 0))
    },
  }
  return list
}
