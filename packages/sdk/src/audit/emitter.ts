// The audit emitter every component uses: emit() never throws or blocks; a
// single sender ships batches to the audit service over mTLS, spools them to
// a local fsynced file while the service is unreachable, and drains the spool
// (oldest first) once it answers again. Event ids make every retry idempotent.
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
  flushIntervalMs?: number
  retryMinMs?: number
  retryMaxMs?: number
  requestTimeoutMs?: number
  /** Size cap of the spool file (default 64 MiB); past it events are dropped, counted and logged, and `spoolFull()` is true. */
  spoolMaxBytes?: number
}

export type AuditEmitter = AuditSink & {
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
  let lostWhileFull = 0
  /** Spools `events`; what does not fit under the cap is counted, and said once per episode (no event content). */
  async function toSpool(events: AuditEvent[]): Promise<void> {
    const refused = await spool.append(events)
    if (refused === 0) return
    dropped?.inc({ reason: 'spool_full' }, refused)
    if (lostWhileFull === 0) options.log.error({ spooled: spool.depth, refused }, 'audit spool full: dropping audit events until the audit service drains it')
    lostWhileFull += refused
  }
  const queue: AuditEvent[] = []
  let running: Promise<void> | undefined
  let timer: NodeJS.Timeout | undefined
  let retryDelay = retryMin
  let retrying = false
  let closed = false

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

  async function drainSpool(): Promise<boolean> {
    const { events: pending, end, skipped } = await spool.read()
    for (let i = 0; i < pending.length; i += batchSize) {
      const slice = pending.slice(i, i + batchSize)
      if ((await send(slice.map((p) => p.event))) === 'retry') return false
      await spool.advance(slice[slice.length - 1]!.end, slice.length)
    }
    await spool.advance(end, skipped)
    return true
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
    for (;;) {
      if (spool.depth > 0 && !(await drainSpool())) {
        await toSpool(queue.splice(0))
        scheduleRetry()
        return
      }
      if (lostWhileFull > 0 && !spool.full) {
        options.log.warn({ lost: lostWhileFull }, 'audit spool drained; events were lost while it was full')
        lostWhileFull = 0
      }
      if (queue.length === 0) return
      const batch = queue.splice(0, batchSize)
      if ((await send(batch)) === 'retry') {
        await toSpool([...batch, ...queue.splice(0)])
        scheduleRetry()
        return
      }
      retryDelay = retryMin
    }
  }

  function kick(): Promise<void> {
    if (timer) { clearTimeout(timer); timer = undefined }
    if (!running) {
      running = pump()
        .catch((error: unknown) => { options.log.error({ err: (error as Error).message }, 'audit emitter failed'); scheduleRetry() })
        .finally(() => { running = undefined })
    }
    return running
  }

  if (spool.depth > 0) setImmediate(() => { void kick() }).unref()

  return {
    emit(input) {
      const event = { ...input, id: input.id ?? randomUUID(), time: input.time ?? new Date(clock.now()).toISOString(), component: options.component } as AuditEvent
      const issues = checkSchema(AuditEventSchema, event)
      if (issues.length > 0) {
        options.log.error({ type: String(input.type), issues: issues.map((i) => `${i.path}: ${i.message}`) }, 'malformed audit event dropped')
        dropped?.inc({ reason: 'malformed' })
        return
      }
      queue.push(event)
      if (queue.length >= batchSize) void kick()
      else if (!timer && !running && !retrying) {
        timer = setTimeout(() => { timer = undefined; void kick() }, flushInterval)
        timer.unref()
      }
    },
    async flush() {
      await kick()
      let last = Number.POSITIVE_INFINITY
      while (queue.length > 0 && queue.length < last) {
        last = queue.length
        await kick()
      }
    },
    async close() {
      await this.flush()
      closed = true
      if (timer) clearTimeout(timer)
    },
    spoolDepth: () => spool.depth,
    spoolFull: () => spool.full,
  }
}
