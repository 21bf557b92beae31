// The audit service's own security events (refused batches, exports, alerts)
// go straight into its log, not through an emitter pointed at itself.
import { randomUUID } from 'node:crypto'
import type { AuditEvent, AuditSink, Clock, Logger } from '@bulwark/core'
import type { AuditLog } from './log.ts'

export function createLocalAuditSink(log: AuditLog, deps: { clock: Clock; log: Logger }): AuditSink {
  const inFlight = new Set<Promise<unknown>>()
  return {
    emit(input) {
      if (!log.bootIntegrity.ok) {
        deps.log.error({ type: input.type }, 'audit event not recorded: the store failed verification')
        return
      }
      const event = { ...input, id: input.id ?? randomUUID(), time: input.time ?? new Date(deps.clock.now()).toISOString(), component: 'audit' } as AuditEvent
      const done = log.append([event]).catch((error: unknown) => deps.log.error({ err: error, type: event.type }, 'recording an audit event failed'))
      inFlight.add(done)
      void done.finally(() => inFlight.delete(done))
    },
    async flush() {
      await Promise.all([...inFlight])
    },
  }
}
