// Identity's revocation feed (`GET /admin/v1/revocations?after=&wait=`),
// long-polled over mTLS. A token is dead when its `jti` is listed, or its
// subject or client was revoked at or after the token was issued.
// Fail closed: until the first sync, and when the feed has been silent for
// longer than `maxStalenessMs`, `check` throws 503.
import { request } from '@bulwark/core'
import type { Dispatcher } from 'undici'
import type { Clock, Logger } from '@bulwark/core'
import { ServiceErrors } from './errors.ts'

export type RevocationEntry = { seq: number; kind: 'subject' | 'jti' | 'client'; value: string; revokedAt: string | number }

export type RevocationFeedOptions = {
  url: string
  dispatcher: Dispatcher
  log: Logger
  clock: Clock
  waitSeconds?: number
  maxStalenessMs?: number
  /** How long a revocation is kept (default REVOCATION_RETENTION_MS). */
  retainMs?: number
}

/**
 * A revocation kills tokens issued before it, and identity's tokens live at most 1 h (access tokens; exchanged ones
 * 5 min): past 2 h every token it could kill has expired and is refused on `exp` alone, so the entry goes (without
 * this the list grew by one entry per logout, erasure or revoked token, forever).
 */
export const REVOCATION_RETENTION_MS = 2 * 60 * 60 * 1000

export type RevocationFeed = {
  /** Throws when the token is revoked or the feed cannot vouch for it. */
  check(token: { sub: string; clientId?: string; jti?: string; iat?: number }): void
  /** True while the feed is synced and fresh enough to vouch for tokens. */
  healthy(): boolean
  /** Revocations held (subjects, clients and token ids). */
  readonly size: number
  /** Resolves after the first successful sync (or rejects after `timeoutMs`). */
  ready(timeoutMs?: number): Promise<void>
  stop(): void
}

function toMillis(value: string | number): number {
  if (typeof value === 'number') return value < 1e12 ? value * 1000 : value
  const parsed = Date.parse(value)
  return Number.isNaN(parsed) ? Number.POSITIVE_INFINITY : parsed
}

export function createRevocationFeed(options: RevocationFeedOptions): RevocationFeed {
  const wait = options.waitSeconds ?? 25
  const maxStaleness = options.maxStalenessMs ?? (wait + 35) * 1000
  const retainMs = options.retainMs ?? REVOCATION_RETENTION_MS
  const subjects = new Map<string, number>()
  const clients = new Map<string, number>()
  const jtis = new Map<string, number>()
  let nextPrune = 0
  let after = 0
  let lastSync = 0
  let stopped = false
  let current: AbortController | undefined
  const waiters: Array<() => void> = []

  function apply(entries: RevocationEntry[]): void {
    for (const entry of entries) {
      const at = toMillis(entry.revokedAt)
      const map = entry.kind === 'jti' ? jtis : entry.kind === 'client' ? clients : subjects
      map.set(entry.value, Math.max(map.get(entry.value) ?? 0, at))
    }
    // Entries past the retention go, at most once a minute (a pass walks every entry). An unreadable time never goes.
    const now = options.clock.now()
    if (now < nextPrune) return
    nextPrune = now + 60_000
    for (const map of [subjects, clients, jtis]) for (const [key, at] of map) if (at < now - retainMs) map.delete(key)
  }

  async function poll(waitSeconds: number): Promise<void> {
    current = new AbortController()
    const url = `${options.url}?after=${after}&wait=${waitSeconds}`
    const response = await request(url, { dispatcher: options.dispatcher, signal: current.signal, headersTimeout: (waitSeconds + 10) * 1000 })
    if (response.statusCode !== 200) {
      await response.body.dump()
      throw new Error(`revocation feed answered ${response.statusCode}`)
    }
    const body = await response.body.json() as { seq?: number; entries?: RevocationEntry[] }
    apply(Array.isArray(body.entries) ? body.entries : [])
    if (typeof body.seq === 'number' && body.seq > after) after = body.seq
    lastSync = options.clock.now()
    while (waiters.length > 0) waiters.shift()!()
  }

  async function loop(): Promise<void> {
    let backoff = 250
    let first = true
    while (!stopped) {
      try {
        await poll(first ? 0 : wait)
        first = false
        backoff = 250
      } catch (error) {
        if (stopped) return
        options.log.warn({ err: (error as Error).message }, 'revocation feed unreachable; retrying')
        await new Promise((resolve) => setTimeout(resolve, backoff).unref())
        backoff = Math.min(backoff * 2, 5_000)
      }
    }
  }
  void loop()

  const healthy = () => lastSync !== 0 && options.clock.now() - lastSync <= maxStaleness
  return {
    healthy,
    get size() { return subjects.size + clients.size + jtis.size },
    check(token) {
      if (!healthy()) throw ServiceErrors.revocationsUnavailable()
      const issuedAt = (token.iat ?? 0) * 1000
      if (token.jti && jtis.has(token.jti)) throw ServiceErrors.tokenRevoked()
      const subjectAt = subjects.get(token.sub)
      if (subjectAt !== undefined && issuedAt <= subjectAt) throw ServiceErrors.tokenRevoked()
      const clientAt = token.clientId === undefined ? undefined : clients.get(token.clientId)
      if (clientAt !== undefined && issuedAt <= clientAt) throw ServiceErrors.tokenRevoked()
    },
    ready(timeoutMs = 10_000) {
      if (lastSync > 0) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('revocation feed: no first sync')), timeoutMs)
        timer.unref()
        waiters.push(() => { clearTimeout(timer); resolve() })
      })
    },
    stop() {
      stopped = true
      current?.abort()
    },
  }
}
