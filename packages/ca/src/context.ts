// What every route module gets: the authority, the config, audit and the
// small helpers that turn a request into an audit actor.
import type { FastifyRequest } from 'fastify'
import type { AuditActor, AuditEventInput, AuditSink, Clock, Logger, Metrics } from '@bulwark/core'
import type { Authority, IssuedCert } from './authority.ts'
import type { CaConfig } from './config.ts'

export type RouteContext = {
  config: CaConfig
  authority: Authority
  audit: AuditSink
  clock: Clock
  log: Logger
  metrics?: Metrics
  /** Set with replicas (PostgreSQL): how often a bundle long-poll rereads the stored version. */
  bundlePollMs?: number
}

export function actorOf(request: FastifyRequest, trustDomain: string): AuditActor {
  const peer = request.peer
  if (!peer) return { kind: 'anonymous', ip: request.ip }
  const kind = peer.spiffeId.startsWith(`spiffe://${trustDomain}/operator/`) ? 'operator' : 'service'
  return { kind, spiffeId: peer.spiffeId, ip: request.ip }
}

export function auditFor(ctx: RouteContext, request: FastifyRequest, event: Omit<AuditEventInput, 'actor' | 'requestId' | 'route'> & { actor?: AuditActor }): void {
  ctx.audit.emit({
    actor: actorOf(request, ctx.config.trustDomain),
    route: `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`,
    requestId: String(request.id),
    ...event,
  })
}

/** The JSON answer of join, renew and issue. */
export function svidAnswer(issued: IssuedCert) {
  return {
    spiffeId: issued.spiffeId,
    serial: issued.serial,
    certificate: issued.certificate,
    chain: issued.chain,
    bundle: issued.bundle,
    notAfter: new Date(issued.notAfter).toISOString(),
  }
}

export function isOperatorId(spiffeId: string, trustDomain: string): boolean {
  return spiffeId.startsWith(`spiffe://${trustDomain}/operator/`)
}
