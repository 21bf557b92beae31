// Alerts for the operator; blocks for gateways (long-poll).
import type { FastifyInstance } from 'fastify'
import { requirePeer } from '@bulwark/core'
import type { AlertCenter } from '../alerts.ts'
import type { BlockList } from '../blocks.ts'
import { intParam, requireReader, type Access } from './access.ts'

export function registerAlertRoutes(app: FastifyInstance, deps: { access: Access; alerts: AlertCenter; blocks: BlockList }): void {
  app.get('/v1/alerts', async (request) => {
    requireReader(request, deps.access)
    const after = intParam(request.query, 'after', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 })!
    const limit = intParam(request.query, 'limit', { min: 1, max: 1000, fallback: 100 })!
    return { alerts: await deps.alerts.list(after, limit) }
  })

  app.get('/v1/blocks', async (request) => {
    requirePeer(request, (id) => deps.access.isOperator(id) || deps.access.isService(id, 'gateway'))
    const after = intParam(request.query, 'after', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 })!
    const wait = intParam(request.query, 'wait', { min: 0, max: 60, fallback: 0 })!
    return await deps.blocks.wait(after, wait * 1000)
  })
}
