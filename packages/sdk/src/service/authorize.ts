// Object- and function-level authorization as policy: a handler names the
// action and the resource (with its owner), Cedar decides. The principal and
// the request context are built here from the verified token, the same way on
// every service. Any evaluation error is a deny (fail closed).
import type { FastifyRequest } from 'fastify'
import type { AuditActor, AuditSink, AuthzDecision, Authorizer, EntityRef } from '@bulwark/core'
import { ServiceErrors } from './errors.ts'
import type { AuthContext, AuthorizeOptions, Entity } from './types.ts'

export const ANONYMOUS: EntityRef = { type: 'Anonymous', id: 'anonymous' }

/** The principal entity of a caller: a User in its roles, a Client, or Anonymous. */
export function principalEntity(auth: AuthContext): Entity {
  if (auth.principal.type === 'User') {
    return {
      uid: auth.principal,
      attrs: { roles: auth.roles },
      parents: auth.roles.map((role) => ({ type: 'Role', id: role })),
    }
  }
  if (auth.principal.type === 'Client') {
    return { uid: auth.principal, attrs: { clientId: auth.clientId ?? auth.sub }, parents: auth.roles.map((role) => ({ type: 'Role', id: role })) }
  }
  return { uid: auth.principal, attrs: {}, parents: [] }
}

/** Cedar `RequestContext` for a user-facing action. */
export function requestContext(auth: AuthContext): Record<string, unknown> {
  return {
    authenticated: auth.authenticated,
    mfa: auth.mfa,
    scopes: auth.scopes,
    ...(auth.callerService ? { callerService: auth.callerService } : {}),
  }
}

export type AuthorizeDeps = {
  authorizer: Authorizer
  audit: AuditSink
  service: string
  /** Roles whose allowed actions are audited too (admin actions are security decisions); default `admin`. */
  auditedRoles?: readonly string[]
}

const AUDITED_ROLES = ['admin']

/** The audit actor for a verified caller: a user (with the client it used), a client acting for itself, or anonymous. */
export function actorOf(auth: AuthContext): AuditActor {
  if (!auth.authenticated) return { kind: 'anonymous' as const }
  return auth.principal.type === 'Client'
    ? { kind: 'client' as const, id: auth.sub, clientId: auth.clientId }
    : { kind: 'user' as const, id: auth.sub, ...(auth.clientId ? { clientId: auth.clientId } : {}) }
}

export function decide(authorizer: Authorizer, request: Parameters<Authorizer['authorize']>[0]): AuthzDecision {
  try {
    return authorizer.authorize(request)
  } catch (error) {
    return { decision: 'deny', reasons: [], errors: [(error as Error).message], policyVersion: 'unknown' }
  }
}

/** What authorize needs of a request: the verified caller, the route (for audit) and the request id. REST and gRPC alike. */
export type AuthorizedRequest = Pick<FastifyRequest, 'auth'> & { readonly id: unknown; readonly routeOptions: { readonly url?: string } }

/** Builds `request.authorize` for one request. */
export function createRequestAuthorize(deps: AuthorizeDeps, request: AuthorizedRequest) {
  return (action: string, resource: EntityRef, options: AuthorizeOptions | Entity[] = {}): AuthzDecision => {
    const opts: AuthorizeOptions = Array.isArray(options) ? { entities: options } : options
    const auth = request.auth
    const principal = principalEntity(auth)
    const decision = decide(deps.authorizer, {
      principal: principal.uid,
      action: { type: 'Action', id: action },
      resource,
      context: { ...requestContext(auth), ...opts.context },
      entities: [principal, ...(opts.entities ?? [])],
    })
    if (decision.decision === 'allow' && decision.errors.length === 0) {
      const audited = deps.auditedRoles ?? AUDITED_ROLES
      if (auth.roles.some((role) => audited.includes(role))) {
        deps.audit.emit({
          type: 'admin.action', actor: actorOf(auth), action, resource: `${resource.type}::"${resource.id}"`, outcome: 'success',
          route: request.routeOptions.url, requestId: String(request.id),
          details: { policyVersion: decision.policyVersion, roles: auth.roles.join(','), ...(auth.callerService ? { via: auth.callerService } : {}) },
        })
      }
      return decision
    }
    const failed = decision.errors.length > 0
    deps.audit.emit({
      type: 'authz.denied',
      actor: actorOf(auth),
      action,
      resource: `${resource.type}::"${resource.id}"`,
      outcome: failed ? 'error' : 'denied',
      reason: failed ? 'BW_AUTHZ_ERROR' : 'BW_AUTHZ_DENIED',
      route: request.routeOptions.url,
      requestId: String(request.id),
      details: { policyVersion: decision.policyVersion, ...(auth.callerService ? { via: auth.callerService } : {}) },
    })
    if (opts.denyAs === 'not-found') throw ServiceErrors.notFound()
    throw failed ? ServiceErrors.policyError() : ServiceErrors.denied(`action \`${action}\` denied by policy`)
  }
}
