// POST /v1/events: a platform component (or the operator, as `cli`) hands
// over a batch; 200 only once it is durable. Refusals are audited locally.
// A follower replica (PostgreSQL) answers 503 + Retry-After before looking
// at the batch: the emitter keeps it spooled and sends it again.
import type { FastifyInstance } from 'fastify'
import { isBulwarkError, type AuditSink } from '@bulwark/core'
import { checkBatch } from '../ingest.ts'
import type { AuditLog } from '../log.ts'
import { AuditErrors } from '../errors.ts'
import { writerOf, type Access } from './access.ts'

export function registerIngestRoutes(app: FastifyInstance, deps: { access: Access; log: AuditLog; audit: AuditSink; maxBatch: number }): void {
  app.post('/v1/events', async (request) => {
    const caller = writerOf(request, deps.access)
    if (!deps.log.writable) throw AuditErrors.notLeader()
    let events
    try {
      events = checkBatch(request.body, caller, deps.maxBatch)
    } catch (error) {
      if (isBulwarkError(error)) {
        deps.audit.emit({
          type: 'audit.events_rejected', actor: { kind: caller.operator ? 'operator' : 'service', spiffeId: request.peer!.spiffeId },
          action: 'audit.ingest', outcome: 'denied', reason: error.code, requestId: String(request.id),
          details: { component: caller.component },
        })
      }
      throw error
    }
    if (!deps.log.bootIntegrity.ok) throw AuditErrors.logTampered()
    return await deps.log.append(events)
  })
}
