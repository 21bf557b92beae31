// Operator-only endpoints (SPIFFE ID `spiffe://<td>/operator/*`): join tokens,
// the certificate inventory, revocation, issuance for `bulwark ca issue`,
// quarantine/release of a service, and rotation of the intermediate.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { CoreErrors, isBulwarkError, parseSpiffeId, serviceNameOf, serviceSpiffeId, type BulwarkError } from '@bulwark/core'
import { checkCsr } from '../csr-policy.ts'
import { CaErrors } from '../errors.ts'
import { auditFor, isOperatorId, svidAnswer, type RouteContext } from '../context.ts'
import type { CertRecord } from '../store.ts'

const SERVICE = Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' })
const JoinTokenBody = Type.Object({
  spiffeId: Type.String({ minLength: 1, maxLength: 512 }),
  ttlSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
}, { additionalProperties: false })
const CertsQuery = Type.Object({
  spiffeId: Type.Optional(Type.String({ maxLength: 512 })),
  active: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
}, { additionalProperties: false })
const RevokeParams = Type.Object({ serial: Type.String({ pattern: '^[0-9A-Fa-f]{1,40}$' }) })
const IssueBody = Type.Object({ service: SERVICE, csr: Type.String({ minLength: 1, maxLength: 16384 }) }, { additionalProperties: false })
const ServiceBody = Type.Object({ service: SERVICE }, { additionalProperties: false })

function certView(cert: CertRecord) {
  return {
    serial: cert.serial, spiffeId: cert.spiffeId, kind: cert.kind, via: cert.via, issuerSerial: cert.issuerSerial,
    notBefore: new Date(cert.notBefore).toISOString(), notAfter: new Date(cert.notAfter).toISOString(),
    issuedAt: new Date(cert.issuedAt).toISOString(), revoked: cert.revokedAt !== null,
    ...(cert.revokedAt !== null ? { revokedAt: new Date(cert.revokedAt).toISOString(), revokeReason: cert.revokeReason } : {}),
  }
}

export function registerOperatorRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const td = ctx.config.trustDomain

  function requireOperator(request: FastifyRequest): string {
    const peer = request.peer!
    if (isOperatorId(peer.spiffeId, td)) return peer.spiffeId
    auditFor(ctx, request, { type: 'authz.denied', action: 'ca.operator', outcome: 'denied', reason: 'BW_PEER_IDENTITY' })
    throw CoreErrors.peerIdentity(`peer \`${peer.spiffeId}\` may not call this route`)
  }

  /**
   * The operator, or the console (svc/console): it calls only for an admin who
   * signed in with a second factor and, for quarantine/release, re-authenticated
   * just before (packages/console/src/actions.ts), and it audits who that was.
   */
  function requireOperatorOrConsole(request: FastifyRequest): string {
    const peer = request.peer!
    if (peer.spiffeId === serviceSpiffeId(td, 'console')) return peer.spiffeId
    return requireOperator(request)
  }

  /** `service` → its SPIFFE ID; the CA's own identity is never handed out or quarantined. */
  function serviceId(service: string): string {
    if (service === 'ca') throw CaErrors.spiffeIdInvalid('the CA identity `svc/ca` is reserved')
    return serviceSpiffeId(td, service)
  }

  app.post<{ Body: Static<typeof JoinTokenBody> }>('/v1/join-tokens', { schema: { body: JoinTokenBody } }, async (request, reply) => {
    const operator = requireOperator(request)
    const { spiffeId } = request.body
    const parsed = parseSpiffeId(spiffeId)
    const name = serviceNameOf(spiffeId)
    if (!parsed || parsed.trustDomain !== td || !name) throw CaErrors.spiffeIdInvalid(`\`${spiffeId.slice(0, 200)}\` is not \`spiffe://${td}/svc/<name>\``)
    serviceId(name)
    const ttl = request.body.ttlSeconds ?? ctx.config.joinTokenTtlSeconds
    if (ttl > ctx.config.maxJoinTokenTtlSeconds) throw CoreErrors.validation(`ttlSeconds must be at most ${ctx.config.maxJoinTokenTtlSeconds}`)
    const { token, expiresAt } = await ctx.authority.createJoinToken(spiffeId, ttl, operator)
    auditFor(ctx, request, { type: 'join_token.created', action: 'join_token.create', outcome: 'success', resource: spiffeId, details: { ttlSeconds: ttl } })
    return reply.code(201).send({ token, spiffeId, expiresAt: new Date(expiresAt).toISOString() })
  })

  app.get<{ Querystring: Static<typeof CertsQuery> }>('/v1/certs', { schema: { querystring: CertsQuery } }, async (request) => {
    requireOperatorOrConsole(request)
    const { spiffeId, active, limit } = request.query
    const certs = await ctx.authority.store.listCerts({ spiffeId, activeAt: active ? ctx.clock.now() : undefined, limit: limit ?? 500 })
    return { certs: certs.map(certView) }
  })

  app.post<{ Params: Static<typeof RevokeParams>; Body: { reason?: unknown } | null }>('/v1/certs/:serial/revoke', { schema: { params: RevokeParams } }, async (request) => {
    requireOperator(request)
    const serial = request.params.serial.toUpperCase()
    const given = request.body?.reason
    const reason = typeof given === 'string' && given.length > 0 ? given.slice(0, 200) : 'operator'
    const result = await ctx.authority.revoke(serial, reason)
    if (result === 'unknown') throw CaErrors.certNotFound(`no certificate with serial \`${serial}\``)
    const cert = (await ctx.authority.store.cert(serial))!
    if (result === 'revoked') {
      auditFor(ctx, request, { type: 'cert.revoked', action: 'cert.revoke', outcome: 'success', resource: cert.spiffeId, details: { serial, reason } })
    }
    return { ...certView(cert), alreadyRevoked: result === 'already' }
  })

  app.post<{ Body: Static<typeof IssueBody> }>('/v1/certs/issue', { schema: { body: IssueBody } }, async (request, reply) => {
    requireOperator(request)
    const spiffeId = serviceId(request.body.service)
    const refuse = (error: BulwarkError): never => {
      auditFor(ctx, request, { type: 'cert.rejected', action: 'cert.issue', outcome: 'denied', reason: error.code, resource: spiffeId, details: { detail: error.message.slice(0, 300) } })
      throw error
    }
    let grant
    try {
      grant = await checkCsr(request.body.csr, { trustDomain: td, servingNames: ctx.config.servingNames })
    } catch (error) {
      return refuse(isBulwarkError(error) ? error : CaErrors.csrInvalid())
    }
    if (grant.spiffeId !== spiffeId) return refuse(CaErrors.idMismatch(`csr asks for \`${grant.spiffeId}\`, not \`${spiffeId}\``))
    if (await ctx.authority.isQuarantinedNow(spiffeId)) return refuse(CaErrors.quarantined(`\`${spiffeId}\` is quarantined`))
    const cert = await ctx.authority.issueFromCsr(grant, 'issue')
    auditFor(ctx, request, { type: 'cert.issued', action: 'cert.issue', outcome: 'success', resource: spiffeId, details: { serial: cert.serial, notAfter: new Date(cert.notAfter).toISOString(), via: 'issue' } })
    return reply.code(201).send(svidAnswer(cert))
  })

  app.post<{ Body: Static<typeof ServiceBody> }>('/v1/quarantine', { schema: { body: ServiceBody } }, async (request) => {
    const operator = requireOperatorOrConsole(request)
    const spiffeId = serviceId(request.body.service)
    const changed = await ctx.authority.quarantine(spiffeId, operator)
    auditFor(ctx, request, { type: 'service.quarantined', action: 'service.quarantine', outcome: 'success', resource: spiffeId, details: { changed } })
    return { service: request.body.service, spiffeId, quarantined: true, changed, version: (await ctx.authority.bundle()).version }
  })

  app.post<{ Body: Static<typeof ServiceBody> }>('/v1/release', { schema: { body: ServiceBody } }, async (request) => {
    requireOperatorOrConsole(request)
    const spiffeId = serviceId(request.body.service)
    const changed = await ctx.authority.release(spiffeId)
    auditFor(ctx, request, { type: 'service.released', action: 'service.release', outcome: 'success', resource: spiffeId, details: { changed } })
    return { service: request.body.service, spiffeId, quarantined: false, changed, version: (await ctx.authority.bundle()).version }
  })

  app.post('/v1/rotate', async (request) => {
    requireOperator(request)
    const result = await ctx.authority.rotateIntermediate()
    auditFor(ctx, request, { type: 'ca.rotated', action: 'ca.rotate', outcome: 'success', resource: 'intermediate', details: { serial: result.serial, previousSerial: result.previousSerial } })
    return { serial: result.serial, previousSerial: result.previousSerial, notAfter: new Date(result.notAfter).toISOString() }
  })
}
