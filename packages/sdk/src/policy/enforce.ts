// The handler-side check: `authorize(principal, action, resource, context)`
// asks the policy (never ad-hoc code) whether this principal may act on this
// resource, e.g. the owner of an order. A deny is an `authz.denied` audit event.
import { BulwarkError, type AuditSink, type AuthzDecision, type Authorizer, type EntityRef, type Logger } from '@bulwark/core'
import type { CedarEntity } from './request-trim.ts'

export type EntityInput = CedarEntity | EntityRef

export type AuthorizeOptions = {
  /** Further entities the decision may need (e.g. an order's owner record). */
  entities?: readonly CedarEntity[]
  requestId?: string
  route?: string
}

export type Enforcer = {
  authorize(principal: EntityInput, action: string, resource: EntityInput, context?: Record<string, unknown>, options?: AuthorizeOptions): AuthzDecision & { allowed: boolean }
  /** Like authorize, but throws `BW_AUTHZ_DENIED` (403), or `BW_NOT_FOUND` (404) with `hide: true` so a denied reader learns nothing. */
  check(principal: EntityInput, action: string, resource: EntityInput, context?: Record<string, unknown>, options?: AuthorizeOptions & { hide?: boolean }): AuthzDecision
}

function isEntity(value: EntityInput): value is CedarEntity {
  return 'uid' in value
}

function label(ref: EntityRef): string {
  return `${ref.type}::${JSON.stringify(ref.id)}`
}

function actorOf(principal: EntityRef): { kind: 'user' | 'client' | 'service' | 'operator' | 'anonymous'; id?: string; spiffeId?: string; clientId?: string } {
  switch (principal.type) {
    case 'User': return { kind: 'user', id: principal.id }
    case 'Client': return { kind: 'client', clientId: principal.id }
    case 'Service': return { kind: 'service', spiffeId: principal.id }
    case 'Operator': return { kind: 'operator', spiffeId: principal.id }
    default: return { kind: 'anonymous' }
  }
}

export function createEnforcer(deps: { authorizer: Authorizer; audit?: AuditSink; log?: Logger }): Enforcer {
  function authorize(principal: EntityInput, action: string, resource: EntityInput, context: Record<string, unknown> = {}, options: AuthorizeOptions = {}) {
    const entities: CedarEntity[] = [...(options.entities ?? [])]
    if (isEntity(principal)) entities.push(principal)
    if (isEntity(resource)) entities.push(resource)
    const principalRef = isEntity(principal) ? principal.uid : principal
    const resourceRef = isEntity(resource) ? resource.uid : resource
    let decision: AuthzDecision
    try {
      decision = deps.authorizer.authorize({ principal: principalRef, action: { type: 'Action', id: action }, resource: resourceRef, context, entities })
    } catch (error) {
      decision = { decision: 'deny', reasons: [], errors: [`authorizer failed: ${(error as Error).message}`], policyVersion: 'unknown' }
    }
    const allowed = decision.decision === 'allow' && decision.errors.length === 0
    if (!allowed) {
      deps.audit?.emit({
        type: 'authz.denied', actor: actorOf(principalRef), action, resource: label(resourceRef),
        outcome: decision.errors.length > 0 ? 'error' : 'denied',
        reason: decision.errors.length > 0 ? 'policy_error' : decision.reasons.length > 0 ? 'policy_forbid' : 'no_permit',
        ...(options.requestId ? { requestId: options.requestId } : {}),
        ...(options.route ? { route: options.route } : {}),
        details: { policyVersion: decision.policyVersion, policies: decision.reasons.join(',').slice(0, 1000) },
      })
      if (decision.errors.length > 0) deps.log?.warn({ action, errors: decision.errors.slice(0, 5) }, 'authorization error: denied')
    }
    return { ...decision, allowed }
  }
  return {
    authorize,
    check(principal, action, resource, context, options = {}) {
      const result = authorize(principal, action, resource, context, options)
      if (result.allowed) return result
      if (options.hide) throw new BulwarkError('BW_NOT_FOUND', 404, 'not found')
      throw new BulwarkError('BW_AUTHZ_DENIED', 403, `action \`${action}\` denied by policy`)
    },
  }
}
