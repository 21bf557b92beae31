// GET /v1/policy-set: the active set for enforcement points, any verified
// peer. ETag = `"<version>"`; with If-None-Match equal to it and `?wait=S`
// the request is held until the active set changes or S seconds pass (304).
import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { requirePeer } from '@bulwark/core'
import { PolicyErrors } from '../errors.ts'
import type { PolicySets } from '../policy-sets.ts'

export function registerDistribution(app: FastifyInstance, deps: { sets: PolicySets; maxWaitSeconds: number; closing: AbortSignal }): void {
  const waiters = new Set<() => void>()
  deps.sets.onChange(() => { for (const wake of [...waiters]) wake() })
  deps.closing.addEventListener('abort', () => { for (const wake of [...waiters]) wake() }, { once: true })

  function waitForChange(ms: number, request: { raw: NodeJS.EventEmitter }): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        waiters.delete(wake)
        request.raw.off('close', wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      timer.unref()
      waiters.add(wake)
      request.raw.once('close', wake)
    })
  }

  app.get('/v1/policy-set', {
    schema: { querystring: Type.Object({ wait: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })) }, { additionalProperties: false }) },
  }, async (request, reply) => {
    requirePeer(request, () => true)
    const etagOf = () => {
      const doc = deps.sets.document()
      if (!doc) throw PolicyErrors.noActiveSet()
      return { doc, etag: `"${doc.version}"` }
    }
    let { doc, etag } = etagOf()
    const given = request.headers['if-none-match']
    const wait = Math.min(Number((request.query as { wait?: string }).wait ?? 0), deps.maxWaitSeconds)
    if (given === etag && wait > 0 && !deps.closing.aborted) {
      await waitForChange(wait * 1000, request)
      ;({ doc, etag } = etagOf())
    }
    reply.header('etag', etag).header('cache-control', 'no-cache')
    if (given === etag) return reply.code(304).send()
    return reply.send(doc)
  })
}
