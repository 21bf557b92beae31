// The guard in front of every route: identify the mTLS caller, ask the
// Authorizer, audit the denial, and answer a denial exactly like an absence
// (same status, code and detail) so callers learn nothing they may not know.
import type { FastifyRequest } from 'fastify'
import { isBulwarkError, parseSpiffeId, serviceNameOf, type AuditActor, type AuditEventInput, type AuditSink, type Authorizer, type AuthzRequest, type BulwarkError, type Logger } from '@bulwark/core'
import { VaultErrors } from './errors.ts'

export type Principal = { spiffeId: string; kind: 'service' | 'operator'; actor: AuditActor }
export type ResourceRef = { type: 'Secret' | 'TransitKey' | 'VaultSystem'; id: string }

export type Access = {
  principalOf(request: FastifyRequest): Principal
  /** Throws `hidden()` (the resource's not-found error) unless allowed. */
  check(request: FastifyRequest, principal: Principal, action: string, resource: ResourceRef, hidden: () => BulwarkError): void
  isAllowed(principal: Principal, action: string, resource: ResourceRef): boolean
  /** Emits an audit event for this request; never pass a value here. */
  audit(request: FastifyRequest, principal: Principal, event: Omit<AuditEventInput, 'actor'>): void
  /** Audits a failed operation (error code as reason) and rethrows it. */
  fail(request: FastifyRequest, principal: Principal, type: string, action: string, resource: string, error: unknown): never
}

export type EntityBuilder = (principal: { type: string; id: string }, resource: ResourceRef) => NonNullable<AuthzRequest['entities']>

export function createAccess(deps: { authorizer: Authorizer; audit: AuditSink; log: Logger; entities?: EntityBuilder }): Access {
  const principals = new Map<string, Principal>()
  function decide(principal: Principal, action: string, resource: ResourceRef): { allowed: boolean; error: boolean } {
    try {
      const who = { type: principal.kind === 'operator' ? 'Operator' : 'Service', id: principal.spiffeId }
      const decision = deps.authorizer.authorize({
        principal: who, action: { type: 'Action', id: action }, resource,
        ...(deps.entities ? { entities: deps.entities(who, resource) } : {}),
      })
      return { allowed: decision.decision === 'allow' && decision.errors.length === 0, error: decision.errors.length > 0 }
    } catch (error) {
      deps.log.error({ err: error }, 'authorizer failed; denying')
      return { allowed: false, error: true }
    }
  }
  const emit = (request: FastifyRequest, principal: Principal, event: Omit<AuditEventInput, 'actor'>) =>
    deps.audit.emit({ ...event, actor: { ...principal.actor }, requestId: String(request.id) })

  return {
    principalOf(request) {
      const peer = request.peer
      if (!peer) throw VaultErrors.unauthenticated()
      let principal = principals.get(peer.spiffeId)
      if (!principal) {
        const parsed = parseSpiffeId(peer.spiffeId)
        const kind: Principal['kind'] = parsed?.path.startsWith('/operator/') ? 'operator' : 'service'
        const name = serviceNameOf(peer.spiffeId) ?? parsed?.path.split('/').pop()
        const fresh: Principal = { spiffeId: peer.spiffeId, kind, actor: { kind, spiffeId: peer.spiffeId, ...(name ? { id: name } : {}) } }
        principal = fresh
        if (principals.size >= 1000) principals.clear()
        principals.set(peer.spiffeId, principal)
      }
      return principal
    },
    isAllowed: (principal, action, resource) => decide(principal, action, resource).allowed,
    check(request, principal, action, resource, hidden) {
      const { allowed, error } = decide(principal, action, resource)
      if (allowed) return
      emit(request, principal, {
        type: 'authz.denied', action, resource: `${resource.type}:${resource.id}`.slice(0, 512),
        outcome: error ? 'error' : 'denied', reason: 'vault_acl', route: request.routeOptions.url,
      })
      throw hidden()
    },
    audit: emit,
    fail(request, principal, type, action, resource, error) {
      const code = isBulwarkError(error) ? error.code : 'BW_INTERNAL'
      const outcome = isBulwarkError(error) && error.status < 500 ? 'failure' : 'error'
      const integrity = type.startsWith('transit') ? 'transit_key.integrity_failed' : 'secret.integrity_failed'
      emit(request, principal, { type: code === 'BW_VAULT_INTEGRITY' ? integrity : type, action, resource: resource.slice(0, 512), outcome, reason: code })
      throw error
    },
  }
}
