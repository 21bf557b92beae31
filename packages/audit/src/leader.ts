// One writer at a time on PostgreSQL: the replica holding a session-level
// advisory lock is the log's writer, and its commits run on the very
// connection that holds the lock. When that connection goes (the process
// died, was closed, or the network dropped it), PostgreSQL releases the lock
// and ends the session, so no commit of the old writer can land after a
// new writer took over: the lock fences the writes. Followers try the lock
// every `retryMs`, so a takeover happens within about that time plus the
// new writer's catch-up; the server's TCP keepalives are set short on the
// lock's connection so a vanished host loses it within seconds too.
import { createHash } from 'node:crypto'
import type { Logger, SqlSession, SqlStore } from '@bulwark/core'

export type LeaderElection = {
  readonly leader: boolean
  /** Starts trying; resolves once the first try is over (elected, or the lock is someone else's). */
  start(): Promise<void>
  /** Gives the lock up (closing its connection) and stops trying. */
  stop(): Promise<void>
}

export type LeaderDeps = {
  log: Logger
  retryMs: number
  /** Runs with the lock held, before the session writes: catch up with the log. A throw gives the lock back. */
  onElected(session: SqlSession): Promise<void>
  /** The lock (and with it the session) is gone. */
  onDeposed(): void
}

/** The advisory lock key of the audit writer (64-bit, from the schema's purpose). */
export const WRITER_LOCK_KEY = createHash('sha256').update('bulwark:audit:writer').digest().readBigInt64BE(0).toString()

export function createLeaderElection(store: SqlStore, deps: LeaderDeps): LeaderElection {
  if (!store.session) throw new TypeError('leader election needs a store with dedicated sessions (PostgreSQL)')
  const open = store.session.bind(store)
  let leader = false
  let stopped = false
  let session: SqlSession | undefined
  let wake: (() => void) | undefined
  let loop: Promise<void> | undefined
  let firstTry!: () => void
  const tried = new Promise<void>((resolve) => { firstTry = resolve })

  const pause = (ms: number, also?: Promise<void>) => new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    function done() { clearTimeout(timer); wake = undefined; resolve() }
    wake = done
    void also?.then(done)
  })

  async function drop(): Promise<void> {
    const held = session
    session = undefined
    if (leader) {
      leader = false
      deps.onDeposed()
    }
    await held?.release()
  }

  async function hold(current: SqlSession): Promise<void> {
    // Only meaningful on TCP; a dead peer is then noticed by the server in about 5 s and the lock released.
    await current.run('SET tcp_keepalives_idle = 2').catch(() => {})
    await current.run('SET tcp_keepalives_interval = 1').catch(() => {})
    await current.run('SET tcp_keepalives_count = 3').catch(() => {})
    await deps.onElected(current)
    leader = true
    firstTry()
    deps.log.info({}, 'audit: this replica holds the writer lock')
    while (!stopped && current.alive) {
      await pause(deps.retryMs, current.lost)
      if (stopped || !current.alive) break
      await current.one('SELECT 1 AS alive')
    }
  }

  async function run(): Promise<void> {
    while (!stopped) {
      try {
        if (!session?.alive) session = await open()
        const got = await session.one<{ ok: boolean }>('SELECT pg_try_advisory_lock(?::bigint) AS ok', [WRITER_LOCK_KEY])
        if (!got?.ok) firstTry()
        else {
          await hold(session)
          if (!stopped) deps.log.warn({}, 'audit: the writer lock was lost; this replica follows')
          await drop()
        }
      } catch (error) {
        deps.log.warn({ err: (error as Error).message }, 'audit: taking or keeping the writer lock failed')
        await drop()
      }
      firstTry()
      if (!stopped) await pause(deps.retryMs)
    }
  }

  return {
    get leader() { return leader },
    start() {
      loop ??= run()
      return tried
    },
    async stop() {
      stopped = true
      wake?.()
      await drop()
      await loop
      // A session the loop opened meanwhile goes too.
      await drop()
    },
  }
}
