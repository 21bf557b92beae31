// Authorize: the route's required scopes (all of them, RFC 6749 §3.3) and roles
// (any one), then a Cedar decision from the Authorizer (evaluated in-process on
// the policy set pulled from the policy service). Any evaluation error is a
// deny (fail closed). Entity model: see README.md ("Cedar requests").
import { isIP } from 'node:net'
import type { Authorizer, AuthzRequest } from '@bulwark/core'
import { GatewayErrors } from '../errors.ts'
import type { GatewayRequest, RequestContext, Stage } from './types.ts'

export type AuthorizeOptions = { authorizer: Authorizer }

const MFA_METHODS = new Set(['mfa', 'otp', 'totp', 'hwk', 'swk', 'sms', 'webauthn'])

function hasMfa(claims: Readonly<Record<string, unknown>>): boolean {
  const amr = Array.isArray(claims.amr) ? claims.amr : []
  return amr.some((m) => typeof m === 'string' && MFA_METHODS.has(m)) || claims.acr === 'urn:bulwark:mfa'
}

/**
 * The Cedar request the gateway asks for a routed call, in the platform
 * schema's terms (packages/policy/schema): principal `User`/`Client`/`Anonymous`,
 * resource `Route::"<route id>"`, context `RequestContext`.
 */
export function cedarRequest(req: GatewayRequest, ctx: RequestContext, action: string): AuthzRequest {
  const route = ctx.route!
  const p = ctx.principal
  const principal = !p ? { type: 'Anonymous', id: 'anonymous' } : p.kind === 'user' ? { type: 'User', id: p.subject } : { type: 'Client', id: p.clientId }
  const resource = { type: 'Route', id: route.id }
  const entities: NonNullable<AuthzRequest['entities']>[number][] = [
    { uid: resource, attrs: { service: route.upstream, path: route.path, public: route.public }, parents: [] },
  ]
  if (p) {
    const roles = p.roles.map((role) => ({ type: 'Role', id: role }))
    entities.push({ uid: principal, attrs: p.kind === 'user' ? { roles: [...p.roles] } : { clientId: p.clientId }, parents: roles })
    for (const role of roles) entities.push({ uid: role, attrs: {}, parents: [] })
  }
  const context: Record<string, unknown> = {
    authenticated: p !== undefined,
    mfa: p ? hasMfa(p.claims) : false,
    scopes: p ? [...p.scopes] : [],
    method: req.method,
    path: req.path,
  }
  if (isIP(ctx.clientIp)) context.ip = { __extn: { fn: 'ip', arg: ctx.clientIp } }
  return { principal, action: { type: 'Action', id: action }, resource, context, entities }
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
