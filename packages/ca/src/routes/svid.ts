// Workload SVIDs: bootstrap with a one-time join token (server-TLS only), then
// renewal over mTLS by the same identity. Every refusal is audited and changes
// nothing (the token is only spent when a certificate is issued).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { CoreErrors, isBulwarkError, type BulwarkError } from '@bulwark/core'
import { createJoinLimiter } from '../join-limiter.ts'
import { checkCsr } from '../csr-policy.ts'
import { CaErrors } from '../errors.ts'
import { auditFor, svidAnswer, type RouteContext } from '../context.ts'
import { JOIN_ROUTE } from '../peer-guard.ts'

const JoinBody = Type.Object({
  joinToken: Type.String({ minLength: 1, maxLength: 256 }),
  csr: Type.String({ minLength: 1, maxLength: 16384 }),
}, { additionalProperties: false })

const RenewBody = Type.Object({
  csr: Type.String({ minLength: 1, maxLength: 16384 }),
}, { additionalProperties: false })

function asBulwark(error: unknown): BulwarkError {
  if (isBulwarkError(error)) return error
  return CaErrors.csrInvalid()
}

export function registerSvidRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const policy = { trustDomain: ctx.config.trustDomain, servingNames: ctx.config.servingNames }
  const issued = ctx.metrics?.counter('bulwark_ca_certs_issued_total', 'Certificates issued by the CA', ['via'])
  const rejected = ctx.metrics?.counter('bulwark_ca_requests_rejected_total', 'CA requests refused', ['route', 'code'])
  const limiter = createJoinLimiter({ maxFailuresPerMinute: ctx.config.joinFailuresPerMinute, clock: ctx.clock })

  app.post<{ Body: Static<typeof JoinBody> }>(JOIN_ROUTE, { schema: { body: JoinBody } }, async (request: FastifyRequest<{ Body: Static<typeof JoinBody> }>) => {
    const refuse = (error: BulwarkError, resource?: string): never => {
      limiter.recordFailure(request.ip)
      rejected?.inc({ route: 'join', code: error.code })
      auditFor(ctx, request, { type: 'join_token.rejected', action: 'svid.join', outcome: 'denied', reason: error.code, ...(resource ? { resource } : {}), details: { detail: error.message.slice(0, 300) } })
      request.log.warn({ code: error.code, spiffeId: resource }, 'ca: join refused')
      throw error
    }
    const wait = limiter.retryAfter(request.ip)
    if (wait > 0) {
      const error = CoreErrors.rateLimited(`too many refused join attempts from this address; retry in ${wait} s`, { headers: { 'retry-after': String(wait) } })
      rejected?.inc({ route: 'join', code: error.code })
      auditFor(ctx, request, { type: 'join_token.rejected', action: 'svid.join', outcome: 'denied', reason: error.code })
      throw error
    }
    const record = await ctx.authority.findJoinToken(request.body.joinToken)
    if (!record) return refuse(CaErrors.joinTokenInvalid())
    if (record.usedAt !== null) return refuse(CaErrors.joinTokenReused(), record.spiffeId)
    if (record.expiresAt <= ctx.clock.now()) return refuse(CaErrors.joinTokenExpired(), record.spiffeId)
    let grant
    try {
      grant = await checkCsr(request.body.csr, policy)
    } catch (error) {
      return refuse(asBulwark(error), record.spiffeId)
    }
    if (grant.spiffeId !== record.spiffeId) {
      return refuse(CaErrors.idMismatch(`csr asks for \`${grant.spiffeId}\` but the join token is bound to \`${record.spiffeId}\``), record.spiffeId)
    }
    if (await ctx.authority.isQuarantinedNow(grant.spiffeId)) return refuse(CaErrors.quarantined(`\`${grant.spiffeId}\` is quarantined`), grant.spiffeId)
    if (!(await ctx.authority.consumeJoinToken(record.hash))) return refuse(CaErrors.joinTokenReused(), record.spiffeId)
    const cert = await ctx.authority.issueFromCsr(grant, 'join')
    issued?.inc({ via: 'join' })
    auditFor(ctx, request, {
      type: 'cert.issued', action: 'svid.join', outcome: 'success', resource: cert.spiffeId,
      actor: { kind: 'service', spiffeId: cert.spiffeId, ip: request.ip },
      details: { serial: cert.serial, notAfter: new Date(cert.notAfter).toISOString(), via: 'join' },
    })
    return svidAnswer(cert)
  })

  app.post<{ Body: Static<typeof RenewBody> }>('/v1/svid/renew', { schema: { body: RenewBody } }, async (request) => {
    const peer = request.peer!
    const refuse = (error: BulwarkError): never => {
      rejected?.inc({ route: 'renew', code: error.code })
      auditFor(ctx, request, { type: 'cert.rejected', action: 'svid.renew', outcome: 'denied', reason: error.code, resource: peer.spiffeId, details: { detail: error.message.slice(0, 300), serial: peer.serial } })
      throw error
    }
    let grant
    try {
      grant = await checkCsr(request.body.csr, policy)
    } catch (error) {
      return refuse(asBulwark(error))
    }
    if (grant.spiffeId !== peer.spiffeId) return refuse(CaErrors.idMismatch(`csr asks for \`${grant.spiffeId}\` but the caller is \`${peer.spiffeId}\``))
    const cert = await ctx.authority.issueFromCsr(grant, 'renew')
    issued?.inc({ via: 'renew' })
    auditFor(ctx, request, {
      type: 'cert.renewed', action: 'svid.renew', outcome: 'success', resource: cert.spiffeId,
      details: { serial: cert.serial, previousSerial: peer.serial, notAfter: new Date(cert.notAfter).toISOString() },
    })
    return svidAnswer(cert)
  })
}
