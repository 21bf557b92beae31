// The operator's admin API: validate, apply, list, show, activate (roll
// back) and diff (dry run). The caller must hold an operator certificate and
// the active set must permit it (`call` on `Endpoint::"policy:…"`).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { operatorSpiffeId, requirePeer, type AuditActor, type AuditSink } from '@bulwark/core'
import { callRequest } from '@bulwark/sdk/policy'
import type { PolicyConfig } from '../config.ts'
import { replayDiff } from '../diff.ts'
import { PolicyErrors } from '../errors.ts'
import { SERVICE_NAME } from '../guard.ts'
import type { PolicySets } from '../policy-sets.ts'
import type { PolicyStore } from '../store.ts'

const Files = Type.Union([
  Type.String({ minLength: 1 }),
  Type.Record(Type.String({ minLength: 1, maxLength: 200 }), Type.String(), { minProperties: 1, maxProperties: 500 }),
])
const CandidateBody = Type.Object({ policies: Files, message: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false })
const VersionParams = Type.Object({ version: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }) })

export function registerAdmin(app: FastifyInstance, deps: { sets: PolicySets; store: PolicyStore; audit: AuditSink; config: PolicyConfig; schema: string }): void {
  const operators = new Set(deps.config.operators.map((name) => operatorSpiffeId(deps.config.trustDomain, name)))

  function admit(request: FastifyRequest): AuditActor {
    const peer = requirePeer(request, (id) => operators.has(id))
    const actor: AuditActor = { kind: 'operator', spiffeId: peer.spiffeId }
    const authorizer = deps.sets.authorizer()
    const route = request.routeOptions.url ?? ''
    const decision = authorizer
      ? authorizer.authorize(callRequest(peer.spiffeId, SERVICE_NAME, request.method, route))
      : { decision: 'deny' as const, reasons: [], errors: ['no active set'], policyVersion: 'none' }
    if (decision.decision !== 'allow') {
      deps.audit.emit({
        type: 'authz.denied', actor, action: 'call', resource: `policy:${request.method} ${route}`, outcome: decision.errors.length > 0 ? 'error' : 'denied',
        reason: 'BW_AUTHZ_DENIED', route, requestId: String(request.id), details: { policyVersion: decision.policyVersion },
      })
      throw PolicyErrors.denied(`\`${request.method} ${route}\` denied by policy`)
    }
    return actor
  }

  app.post('/v1/policy-sets/validate', { schema: { body: CandidateBody } }, async (request) => {
    admit(request)
    const { policies } = request.body as { policies: string | Record<string, string> }
    const result = deps.sets.check(policies)
    return { ok: result.ok, policyCount: result.policyCount, errors: result.errors, warnings: result.warnings }
  })

  app.post('/v1/policy-sets', { schema: { body: CandidateBody } }, async (request, reply) => {
    const actor = admit(request)
    const { policies, message } = request.body as { policies: string | Record<string, string>; message?: string }
    const result = await deps.sets.apply(policies, actor, message)
    return reply.code(result.unchanged ? 200 : 201).send({ ...result, active: result.version })
  })

  app.get('/v1/policy-sets', async (request) => {
    admit(request)
    const [active, versions] = await Promise.all([deps.store.active(), deps.store.listSets()])
    return { active: active ?? null, versions }
  })

  app.get('/v1/policy-sets/:version', { schema: { params: VersionParams } }, async (request) => {
    admit(request)
    const version = Number((request.params as { version: string }).version)
    const row = await deps.store.getSet(version)
    if (!row) throw PolicyErrors.unknownVersion(`no policy set version \`${version}\``)
    return row
  })

  app.post('/v1/policy-sets/:version/activate', { schema: { params: VersionParams } }, async (request) => {
    const actor = admit(request)
    const version = Number((request.params as { version: string }).version)
    return await deps.sets.activate(version, actor)
  })

  app.post('/v1/policy-sets/diff', { schema: { body: CandidateBody } }, async (request) => {
    const actor = admit(request)
    const { policies } = request.body as { policies: string | Record<string, string> }
    const candidate = deps.sets.check(policies)
    if (!candidate.ok) {
      throw PolicyErrors.invalid(`the candidate failed validation: ${candidate.errors.length} problem(s)`, {
        extensions: { errors: candidate.errors.map((e) => ({ path: e.file ?? e.policyId ?? '/', message: e.message })) },
      })
    }
    const report = await replayDiff({
      store: deps.store, schema: deps.schema, active: deps.sets.authorizer(), candidate,
      changes: deps.sets.changesAgainstActive(candidate.policies), limit: deps.config.replayLimit, samples: deps.config.diffSamples,
    })
    deps.audit.emit({
      type: 'policy.diffed', actor, action: 'policy.diff', resource: 'policy-set:candidate', outcome: 'success',
      details: { replayed: report.replayed, changed: report.changed, allowToDeny: report.allowToDeny, denyToAllow: report.denyToAllow, activeVersion: report.activeVersion },
    })
    return report
  })
}
