// A sequence-numbered long-poll feed (`GET <path>?after=SEQ&wait=S` answering
// `{seq, entries}`) over the peer's mTLS dispatcher: identity's revocations and
// audit's blocks. Reconnects with capped backoff; never throws to its caller.
import type { Dispatcher } from 'undici'
import { request } from '@bulwark/core'
import type { Logger } from '@bulwark/core'

export type FeedEntry = Record<string, unknown> & { seq?: number }

export type LongPollOptions = {
  name: string
  url: string
  path: string
  dispatcher: Dispatcher
  waitSeconds: number
  log: Logger
  onEntries(entries: FeedEntry[]): void
  /** Key of the entries array in the answer (default `entries`). */
  field?: string
}

export type LongPoll = { stop(): void; readonly seq: number; readonly connected: boolean; /** Resolves after the first successful answer. */ synced: Promise<void> }

export function startLongPoll(options: LongPollOptions): LongPoll {
  let seq = 0
  let stopped = false
  let connected = false
  let failures = 0
  let first = true
  const controller = new AbortController()
  let markSynced: () => void = () => {}
  const synced = new Promise<void>((resolve) => { markSynced = resolve })
  async function once(): Promise<number> {
    // The first call catches up at once; every later one waits for news.
    const wait = first ? 0 : options.waitSeconds
    const response = await request(`${options.url}${options.path}?after=${seq}&wait=${wait}`, {
      dispatcher: options.dispatcher, signal: controller.signal,
      headersTimeout: (wait + 10) * 1000, bodyTimeout: 10_000,
    })
    if (response.statusCode !== 200) {
      await response.body.dump()
      throw new Error(`${options.name} feed answered ${response.statusCode}`)
    }
    const body = await response.body.json() as Record<string, unknown>
    const entries = (body[options.field ?? 'entries'] ?? body.entries ?? []) as FeedEntry[]
    if (!Array.isArray(entries)) throw new Error(`${options.name} feed answered without entries`)
    if (entries.length > 0) options.onEntries(entries)
    const next = Number(body.seq ?? entries.reduce((max, e) => Math.max(max, Number(e.seq ?? 0)), seq))
    if (Number.isFinite(next) && next >= seq) seq = next
    connected = true
    failures = 0
    first = false
    markSynced()
    return entries.length
  }
  void (async () => {
    while (!stopped) {
      const started = Date.now()
      try {
        const count = await once()
        // A feed that answers at once with nothing (no long-poll support) must not become a busy loop.
        if (count === 0 && Date.now() - started < 100) await new Promise((resolve) => setTimeout(resolve, 1000).unref())
      } catch (error) {
        if (stopped) break
        connected = false
        failures++
        if (failures === 1 || failures % 20 === 0) options.log.warn({ feed: options.name, err: (error as Error).message }, 'feed unavailable; retrying')
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** Math.min(failures, 6))).unref())
      }
    }
  })()
  return {
    stop() { stopped = true; controller.abort() },
    get seq() { return seq },
    get connected() { return connected },
    synced,
  }
}

/** Reads a time given as ISO text, epoch seconds or epoch milliseconds. */
export function parseTime(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value < 1e12 ? value * 1000 : value
  if (typeof value === 'string') {
    const parsed = Date.parse(value)
    return Number.isNaN(parsed) ? undefined : parsed
  }
  return undefined
}
