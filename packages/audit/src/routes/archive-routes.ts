// Retention by hand: POST /v1/archive cuts what the retention limits ask for
// (or everything below `upTo`) into a signed segment; the segments and the
// checkpoints stay readable so an operator can take them away and verify them.
import { createReadStream } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import { segmentPath, type Archiver } from '../archive.ts'
import { AuditErrors } from '../errors.ts'
import { requireOperator, type Access } from './access.ts'

export function registerArchiveRoutes(app: FastifyInstance, deps: { access: Access; archiver: Archiver; refresh(): Promise<void> }): void {
  app.post('/v1/archive', async (request) => {
    requireOperator(request, deps.access)
    const body = (request.body ?? {}) as Record<string, unknown>
    if (typeof body !== 'object' || Array.isArray(body) || Object.keys(body).some((k) => k !== 'upTo')) throw AuditErrors.badQuery('the body is `{}` or `{"upTo": N}`')
    const upTo = body.upTo
    if (upTo !== undefined && (!Number.isSafeInteger(upTo) || (upTo as number) < 1)) throw AuditErrors.badQuery('`upTo` must be a positive integer')
    const archived = await deps.archiver.run({
      ...(upTo === undefined ? {} : { upTo: upTo as number }),
      actor: { kind: 'operator', spiffeId: request.peer!.spiffeId }, requestId: String(request.id),
    })
    return { archived: archived ?? null }
  })

  app.get('/v1/archive', async (request) => {
    requireOperator(request, deps.access)
    await deps.refresh()
    const latest = deps.archiver.latest()
    return { checkpoint: latest ?? null, due: (await deps.archiver.due()) ?? null }
  })

  app.get('/v1/archive/segments/:name', async (request, reply) => {
    requireOperator(request, deps.access)
    const path = segmentPath(deps.archiver.dir, (request.params as { name: string }).name)
    if (!path) throw AuditErrors.notFound('no such segment')
    reply.header('content-type', 'application/x-ndjson; charset=utf-8')
    return reply.send(createReadStream(path))
  })
}
