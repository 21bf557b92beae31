// The audit emitter every component uses. emit() never throws or blocks; the
// event goes first to the spool, a local write-ahead log (spool.ts): every
// event emitted in the same turn of the event loop is appended with one write
// and one fdatasync (group commit; while one commit runs, the next group
// gathers). A single sender ships what is durable to the audit service over
// mTLS and advances the spool once the service acknowledged it; while the
// service is unreachable the spool simply grows (up to its cap) and drains,
// oldest first, when it answers again. Event ids make every re-send idempotent.
//
// The durability barrier: a request's reply must not leave before the audit
// events it emitted are on disk (a kill -9 after the reply would otherwise
// lose the trail of an acknowledged operation). `scoped()` runs a request in
// its own async scope, emit() notes the scope's latest event, and `barrier()`
// returns a promise for that event's commit, or undefined when the request
// emitted nothing or its events are durable already (no cost then).
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import type { Dispatcher } from 'undici'
import { request, AuditEventSchema, checkSchema, systemClock, type AuditEvent, type AuditSink, type Clock, type Logger, type Metrics } from '@bulwark/core'
import { createSpool } from './spool.ts'

export type AuditEmitterOptions = {
  /** The audit service's base URL. */
  url: string
  /** mTLS dispatcher that verifies the audit service's SPIFFE ID. */
  dispatcher: Dispatcher
  spoolPath: string
  /** Our component name (the service name of our SPIFFE ID). */
  component: string
  log: Logger
  clock?: Clock
  metrics?: Metrics
  batchSize?: number
  /** How long durable events wait to be shipped with the next ones (the barrier does not wait for this). */
  flushIntervalMs?: number
  retryMinMs?: number
  retryMaxMs?: number
  requestTimeoutMs?: number
  /** Size cap of the spool file (default 64 MiB); past it events are dropped, counted and logged, and `spoolFull()` is true. */
  spoolMaxBytes?: number
}

export type AuditEmitter = AuditSink & {
  /** Runs `fn` (a request) in its own scope: `barrier()` inside it waits only for the events it emitted. */
  scoped<T>(fn: () => T): T
  barrier(): Promise<void> | undefined
  /** Resolves once every event emitted so far is durable in the spool (or refused: cap, malformed). */
  durable(): Promise<void>
  close(): Promise<void>
  /** Events waiting in the spool file. */
  spoolDepth(): number
  /** True while the spool is at its size cap (events are being lost): the component should not report ready. */
  spoolFull(): boolean
}

type SendResult = 'ok' | 'retry' | 'drop'

export function createAuditEmitter(options: AuditEmitterOptions): AuditEmitter {
  if (!options.url || !options.dispatcher || !options.spoolPath || !options.component) {
    throw new TypeError('createAuditEmitter: url, dispatcher, spoolPath and component are required')
  }
  const clock = options.clock ?? systemClock
  const batchSize = options.batchSize ?? 500
  const flushInterval = options.flushIntervalMs ?? 50
  const retryMin = options.retryMinMs ?? 250
  const retryMax = options.retryMaxMs ?? 10_000
  const endpoint = `${options.url.replace(/\/$/, '')}/v1/events`
  const depthGauge = options.metrics?.gauge('bulwark_audit_spool_depth', 'Audit events waiting in the local spool')
  const dropped = options.metrics?.counter('bulwark_audit_emit_dropped_total', 'Audit events dropped: malformed, refused by the log, or the spool at its size cap', ['reason'])
  const spool = createSpool(options.spoolPath, (depth) => depthGauge?.set(depth), options.spoolMaxBytes)
  const scope = new AsyncLocalStorage<{ last: number }>()
  let lostWhileFull = 0

  // Group commit: `staged` gathers events until the next commit takes them all.
  let staged: AuditEvent[] = []
  let emitted = 0 // sequence number of the last event emitted
  let committed = 0 // every event up to this sequence number is durable (or was refused)
  let committing = false
  let commitScheduled = false
  let commitFailures = 0
  const waiters: Array<{ upTo: number; resolve: () => void }> = []

  let running: Promise<void> | undefined
  let timer: NodeJS.Timeout | undefined
  let retryDelay = retryMin
  let retrying = false
  let closed = false

  function release(): void {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.upTo <= committed) waiters.splice(i, 1)[0]!.resolve()
    }
  }

  function waitFor(upTo: number): Promise<void> | undefined {
    if (upTo <= committed) return undefined
    return new Promise((resolve) => waiters.push({ upTo, resolve }))
  }

  function scheduleCommit(delay = 0): void {
    if (commitScheduled || committing) return
    commitScheduled = true
    const run = () => { commitScheduled = false; void commit() }
    // setImmediate: every event emitted in this turn of the event loop joins the same write + fdatasync.
    if (delay === 0) setImmediate(run)
    else setTimeout(run, delay)
  }

  async function commit(): Promise<void> {
    if (committing || staged.length === 0) return
    committing = true
    const group = staged
    staged = []
    const upTo = emitted // everything emitted so far is in `group` (staged was emptied above)
    let done = false
    try {
      let refused = await spool.append(group)
      if (refused > 0 && !closed) {
        // At its cap: one delivery attempt first (the service may be back and take the backlog), then what
        // still does not fit is lost. Only a full spool pays this wait, and only one attempt per commit.
        await kick()
        refused = await spool.append(group.slice(group.length - refused))
      }
      done = true
      commitFailures = 0
      if (refused > 0) {
        dropped?.inc({ reason: 'spool_full' }, refused)
        if (lostWhileFull === 0) options.log.error({ spooled: spool.depth, refused }, 'audit spool full: dropping audit events until the audit service drains it')
        lostWhileFull += refused
      }
    } catch (error) {
      commitFailures += 1
      if (commitFailures === 1 || commitFailures % 20 === 0) options.log.error({ err: (error as Error).message, failures: commitFailures }, 'cannot write the audit spool; sending directly')
      // The disk refused: the audit service's acknowledgement makes them durable just as well.
      const sent = await send(group)
      done = sent !== 'retry'
    }
    committing = false
    if (done) {
      committed = Math.max(committed, upTo)
      release()
      scheduleSend()
    } else {
      // Neither disk nor service took them: keep them, oldest first, and try again (waiters keep waiting).
      staged = [...group, ...staged]
    }
    if (staged.length > 0) scheduleCommit(done ? 0 : Math.min(retryMax, retryMin * 2 ** Math.min(commitFailures, 6)))
  }

  let failures = 0
  function unreachable(detail: Record<string, unknown>): void {
    failures += 1
    // The first failure and then every 20th: an outage must not flood the log.
    if (failures === 1 || failures % 20 === 0) options.log.warn({ ...detail, failures, spooled: spool.depth }, 'audit service unreachable; spooling')
  }

  async function send(events: readonly AuditEvent[]): Promise<SendResult> {
    try {
      const res = await request(endpoint, {
        method: 'POST', dispatcher: options.dispatcher,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ events }),
        headersTimeout: options.requestTimeoutMs ?? 10_000, bodyTimeout: options.requestTimeoutMs ?? 10_000,
      })
      const text = await res.body.text()
      if (res.statusCode >= 200 && res.statusCode < 300) {
        if (failures > 0) options.log.info({ failures }, 'audit service reachable again; draining the spool')
        failures = 0
        return 'ok'
      }
      if (res.statusCode === 413 && events.length > 1) {
        const half = Math.ceil(events.length / 2)
        const first = await send(events.slice(0, half))
        if (first === 'retry') return 'retry'
        return await send(events.slice(half))
      }
      if (res.statusCode === 400 || res.statusCode === 403 || res.statusCode === 413) {
        // Permanent: the log will never take these. Say so loudly; retrying forever would wedge the spool.
        let detail = ''
        try { detail = String((JSON.parse(text) as { detail?: string }).detail ?? '') } catch { /* not json */ }
        options.log.error({ status: res.statusCode, detail, count: events.length }, 'audit service refused events')
        dropped?.inc({ reason: String(res.statusCode) }, events.length)
        return 'drop'
      }
      unreachable({ status: res.statusCode })
      return 'retry'
    } catch (error) {
      unreachable({ err: (error as Error).message })
      return 'retry'
    }
  }

  /** Ships everything durable in the spool: how many lines it delivered (or skipped), or -1 when the service must be retried later. */
  async function drainSpool(): Promise<number> {
    const { events: pending, end, skipped } = await spool.read()
    for (let i = 0; i < pending.length; i += batchSize) {
      const slice = pending.slice(i, i + batchSize)
      if ((await send(slice.map((p) => p.event))) === 'retry') return -1
      await spool.advance(slice[slice.length - 1]!.end, slice.length)
    }
    await spool.advance(end, skipped)
    return pending.length + skipped
  }

  function scheduleRetry(): void {
    if (closed || retrying) return
    retrying = true
    const delay = retryDelay
    retryDelay = Math.min(retryDelay * 2, retryMax)
    const t = setTimeout(() => { retrying = false; void kick() }, delay)
    t.unref()
  }

  async function pump(): Promise<void> {
    // Until the spool is empty (commits keep adding to it meanwhile), or a round found nothing to ship.
    while (spool.depth > 0) {
      const shipped = await drainSpool()
      if (shipped < 0) {
        scheduleRetry()
        return
      }
      retryDelay = retryMin
      if (shipped === 0) break
    }
    if (lostWhileFull > 0 && !spool.full) {
      options.log.warn({ lost: lostWhileFull }, 'audit spool drained; events were lost while it was full')
      lostWhileFull = 0
    }
  }

  function kick(): Promise<void> {
    if (timer) { clearTimeout(timer); timer = undefined }
    if (!running) {
      running = pump()
        .catch((error: unknown) => { options.log.error({ err: (error as Error).message }, 'audit emitter failed'); scheduleRetry() })
        .finally(() => {
          running = undefined
          // Events committed while this round was sending are picked up by the next one.
          if (spool.depth > 0 && !retrying) scheduleSend()
        })
    }
    return running
  }

  /** After a commit: ship at once when a batch is full, else after the flush interval (fewer, larger posts). */
  function scheduleSend(): void {
    if (closed) return
    if (spool.depth >= batchSize && !retrying) void kick()
    else if (!timer && !running && !retrying) {
      timer = setTimeout(() => { timer = undefined; void kick() }, flushInterval)
      timer.unref()
    }
  }

  if (spool.depth > 0) setImmediate(() => { void kick() }).unref()

  function durable(): Promise<void> {
    return waitFor(emitted) ?? Promise.resolve()
  }

  return {
    emit(input) {
      const event = { ...input, id: input.id ?? randomUUID(), time: input.time ?? new Date(clock.now()).toISOString(), component: options.component } as AuditEvent
      const issues = checkSchema(AuditEventSchema, event)
      if (issues.length > 0) {
        options.log.error({ type: String(input.type), issues: issues.map((i) => `${i.path}: ${i.message}`) }, 'malformed audit event dropped')
        dropped?.inc({ reason: 'malformed' })
        return
      }
      staged.push(event)
      emitted += 1
      const current = scope.getStore()
      if (current) current.last = emitted
      scheduleCommit()
    },
    scoped: (fn) => scope.run({ last: 0 }, fn),
    barrier() {
      const current = scope.getStore()
      return current && current.last > 0 ? waitFor(current.last) : undefined
    },
    durable,
    async flush() {
      await durable()
      await kick()
      let last = Number.POSITIVE_INFINITY
      while (spool.depth > 0 && spool.depth < last) {
        last = spool.depth
        await kick()
      }
    },
    async close() {
      await this.flush()
      closed = true
      if (timer) clearTimeout(timer)
      await spool.close()
    },
    spoolDepth: () => spool.depth,
    spoolFull: () => spool.full,
  }
}
