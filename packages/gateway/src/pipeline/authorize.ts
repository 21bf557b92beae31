// Authorize: the route's required scopes (all of them, RFC 6749 §3.3) and roles
// (any one), then a Cedar decision from the Authorizer (evaluated in-process on
// the policy set pulled from the policy service). Any evaluation error is a
// deny (fail closed). Entity model: see README.md ("Cedar requests").
import type { Authorizer, AuthzRequest } from '@bulwark/core'
import { GatewayErrors } from '../errors.ts'
import type { GatewayRequest, RequestContext, Stage } from './types.ts'

export type AuthorizeOptions = { authorizer: Authorizer }

/** The Cedar request the gateway asks for a routed call. */
export function cedarRequest(req: GatewayRequest, ctx: RequestContext, action: string): AuthzRequest {
  const route = ctx.route!
  const p = ctx.principal
  const principal = !p ? { type: 'Anonymous', id: 'anonymous' } : p.kind === 'user' ? { type: 'User', id: p.subject } : { type: 'Client', id: p.clientId }
  const resource = { type: 'Route', id: route.id }
  const entities: NonNullable<AuthzRequest['entities']>[number][] = [
    { uid: resource, attrs: { service: route.upstream, path: route.path, public: route.public }, parents: [] },
  ]
  if (p) {
    entities.push({
      uid: principal,
      attrs: { clientId: p.clientId, scopes: [...p.scopes], roles: [...p.roles] },
      parents: p.roles.map((role) => ({ type: 'Role', id: role })),
    })
    for (const role of p.roles) entities.push({ uid: { type: 'Role', id: role }, attrs: {}, parents: [] })
  }
  return {
    principal,
    action: { type: 'Action', id: action },
    resource,
    context: {
      authenticated: p !== undefined,
      method: req.method,
      path: req.path,
      ip: ctx.clientIp,
      params: { ...ctx.params },
      scopes: p ? [...p.scopes] : [],
      roles: p ? [...p.roles] : [],
      clientId: p?.clientId ?? '',
    },
    entities,
  }
}

export function createAuthorizeStage(options: AuthorizeOptions): Stage {
  return {
    name: 'authorize',
    async run(req, ctx) {
      const route = ctx.route
      if (!route) throw GatewayErrors.policyError('no route')
      const principal = ctx.principal
      const missingScope = route.scopes.find((scope) => !principal?.scopes.includes(scope))
      if (missingScope) throw GatewayErrors.scopeMissing(`route \`${route.id}\`: scope \`${missingScope}\` missing`, { headers: { 'www-authenticate': `Bearer error="insufficient_scope", scope="${route.scopes.join(' ')}"` } })
      if (route.roles.length > 0 && !route.roles.some((role) => principal?.roles.includes(role))) {
        throw GatewayErrors.roleMissing(`route \`${route.id}\`: one of roles ${route.roles.map((r) => `\`${r}\``).join(', ')} required`)
      }
      if (!route.action) return
      let decision
      try {
        decision = options.authorizer.authorize(cedarRequest(req, ctx, route.action))
      } catch (error) {
        ctx.log.error({ err: error }, 'authorizer failed')
        throw GatewayErrors.policyError(`route \`${route.id}\`: policy evaluation failed; denied`, { extensions: { outcome: 'error' } })
      }
      if (decision.errors.length > 0) throw GatewayErrors.policyError(`route \`${route.id}\`: policy evaluation failed; denied`, { extensions: { outcome: 'error' } })
      if (decision.decision !== 'allow') throw GatewayErrors.policyDenied(`route \`${route.id}\`: action \`${route.action}\` denied by policy`)
    },
  }
}
