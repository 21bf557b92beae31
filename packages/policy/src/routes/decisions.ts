// POST /v1/decisions: enforcement points send sampled decisions; the dry-run
// replays candidate sets over them. Any verified peer; the source recorded is
// its SPIFFE ID, not anything it claims.
import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { requirePeer } from '@bulwark/core'
import type { PolicyStore } from '../store.ts'

const Uid = Type.Object({ type: Type.String({ minLength: 1, maxLength: 128 }), id: Type.String({ maxLength: 512 }) }, { additionalProperties: false })
const Entity = Type.Object({
  uid: Uid,
  attrs: Type.Record(Type.String({ maxLength: 128 }), Type.Unknown()),
  parents: Type.Array(Uid, { maxItems: 64 }),
}, { additionalProperties: false })
const Decision = Type.Object({
  time: Type.String({ format: 'date-time' }),
  principal: Uid,
  action: Uid,
  resource: Uid,
  context: Type.Record(Type.String({ maxLength: 128 }), Type.Unknown()),
  entities: Type.Array(Entity, { maxItems: 100 }),
  decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  policyVersion: Type.String({ maxLength: 64 }),
}, { additionalProperties: false })
export const DecisionBatchSchema = Type.Object({ decisions: Type.Array(Decision, { minItems: 1, maxItems: 1000 }) }, { additionalProperties: false })

export function registerDecisions(app: FastifyInstance, deps: { store: PolicyStore; keep: number }): void {
  app.post('/v1/decisions', { schema: { body: DecisionBatchSchema } }, async (request, reply) => {
    const peer = requirePeer(request, () => true)
    const { decisions } = request.body as { decisions: Array<{ time: string; principal: { type: string; id: string }; action: { type: string; id: string }; resource: { type: string; id: string }; context: Record<string, unknown>; entities: unknown[]; decision: 'allow' | 'deny'; policyVersion: string }> }
    const accepted = await deps.store.appendDecisions(decisions.map((d) => ({
      time: d.time, source: peer.spiffeId, decision: d.decision, policyVersion: d.policyVersion,
      request: { principal: d.principal, action: d.action, resource: d.resource, context: d.context, entities: d.entities },
    })), deps.keep)
    return reply.code(202).send({ accepted })
  })
}
