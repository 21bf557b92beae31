// Sampled decisions sent to the policy service's decision log, which the
// dry-run replays candidate sets over. Bounded queue, batched, best effort:
// recording never blocks or fails a request.
import { request as undiciRequest } from '@bulwark/core'
import type { Dispatcher } from 'undici'
import type { AuthzDecision, AuthzRequest, Logger } from '@bulwark/core'

export type DecisionRecord = {
  time: string
  principal: AuthzRequest['principal']
  action: AuthzRequest['action']
  resource: AuthzRequest['resource']
  context: Record<string, unknown>
  entities: NonNullable<AuthzRequest['entities']>
  decision: AuthzDecision['decision']
  policyVersion: string
}

export type DecisionRecorderOptions = {
  url: string
  dispatcher: Dispatcher
  log: Logger
  /** Fraction of decisions recorded, 0..1. */
  sampleRate: number
  batchSize?: number
  maxQueue?: number
  flushIntervalMs?: number
  random?: () => number
  now?: () => number
}

export type DecisionRecorder = {
  record(request: AuthzRequest, decision: AuthzDecision): void
  flush(): Promise<void>
  close(): Promise<void>
  stats(): { queued: number; sent: number; dropped: number }
}

export function createDecisionRecorder(options: DecisionRecorderOptions): DecisionRecorder {
  const batchSize = options.batchSize ?? 200
  const maxQueue = options.maxQueue ?? 5_000
  const random = options.random ?? Math.random
  const now = options.now ?? Date.now
  let queue: DecisionRecord[] = []
  let sent = 0, dropped = 0
  let inflight: Promise<void> | undefined
  const timer = setInterval(() => { void flush() }, options.flushIntervalMs ?? 2_000)
  timer.unref()

  async function send(batch: DecisionRecord[], timeoutMs: number): Promise<void> {
    try {
      const res = await undiciRequest(`${options.url}/v1/decisions`, {
        method: 'POST', dispatcher: options.dispatcher, signal: AbortSignal.timeout(timeoutMs),
        headers: { 'content-type': 'application/json' }, body: JSON.stringify({ decisions: batch }),
        headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
      })
      await res.body.dump()
      if (res.statusCode >= 300) throw new Error(`status ${res.statusCode}`)
      sent += batch.length
    } catch (error) {
      dropped += batch.length
      options.log.warn({ err: (error as Error).message, count: batch.length }, 'decision log: batch dropped')
    }
  }

  async function flush(timeoutMs = 10_000): Promise<void> {
    if (inflight) await inflight
    while (queue.length > 0) {
      const batch = queue.slice(0, batchSize)
      queue = queue.slice(batch.length)
      inflight = send(batch, timeoutMs)
      await inflight
      inflight = undefined
    }
  }

  return {
    record(request, decision) {
      if (random() >= options.sampleRate) return
      if (queue.length >= maxQueue) {
        queue.shift()
        dropped++
      }
      queue.push({
        time: new Date(now()).toISOString(), principal: request.principal, action: request.action, resource: request.resource,
        context: request.context ?? {}, entities: request.entities ?? [], decision: decision.decision, policyVersion: decision.policyVersion,
      })
      if (queue.length >= batchSize) void flush()
    },
    flush: () => flush(),
    async close() {
      clearInterval(timer)
      // Shutdown must not hang on a slow policy service: a short last try, then drop.
      await flush(2_000)
    },
    stats: () => ({ queued: queue.length, sent, dropped }),
  }
}
