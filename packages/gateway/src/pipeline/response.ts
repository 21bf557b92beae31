// Response: security headers on every answer (HSTS, RFC 6797 §6.1; nosniff;
// Referrer-Policy; frame denial; CSP on HTML when the upstream set none), CORS
// per route (Fetch standard: exact origins, `Vary: Origin`, preflights answered
// here), problem+json errors (RFC 9457) with `instance` = the request id and
// never a stack trace, and an audit event for every deny and limit.
import { PROBLEM_CONTENT_TYPE, isBulwarkError, toProblem, type AuditSink, type AuditEventInput } from '@bulwark/core'
import { GatewayErrors } from '../errors.ts'
import type { CompiledRoute } from '../routes.ts'
import type { GatewayRequest, RequestContext, Stage } from './types.ts'

export const HTML_CSP = "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"

export function securityHeaders(hsts: string): Record<string, string> {
  return {
    'strict-transport-security': hsts,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  }
}

function allowedOrigin(route: CompiledRoute | undefined, origin: string | string[] | undefined): string | undefined {
  if (!route?.cors || typeof origin !== 'string') return undefined
  return route.cors.origins.includes(origin) ? origin : undefined
}

/** Answers a CORS preflight for `route`; throws when the origin or method is not allowed. */
export function preflightHeaders(route: CompiledRoute, req: GatewayRequest): Record<string, string> {
  const origin = allowedOrigin(route, req.headers.origin)
  const method = String(req.headers['access-control-request-method'] ?? '')
  const methods = route.cors?.methods ?? route.methods
  if (!origin || !methods.includes(method)) throw GatewayErrors.corsRefused(`origin or method not allowed for route \`${route.id}\``)
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': methods.join(', '),
    'access-control-allow-headers': route.cors!.headers.join(', '),
    'access-control-max-age': String(route.cors!.maxAgeSeconds),
    ...(route.cors!.credentials ? { 'access-control-allow-credentials': 'true' } : {}),
    vary: 'Origin',
  }
}

export function createResponseStage(): Stage {
  return {
    name: 'response',
    async run(req, ctx) {
      const origin = allowedOrigin(ctx.route, req.headers.origin)
      if (ctx.route?.cors) ctx.responseHeaders.vary = 'Origin'
      if (!origin) return
      ctx.responseHeaders['access-control-allow-origin'] = origin
      ctx.responseHeaders['access-control-expose-headers'] = 'x-request-id, ratelimit, ratelimit-policy, retry-after'
      if (ctx.route!.cors!.credentials) ctx.responseHeaders['access-control-allow-credentials'] = 'true'
    },
  }
}

const AUDIT_TYPES: Record<string, string> = {
  'ip-filter': 'ip.denied',
  'rate-limit': 'rate_limit.exceeded',
  'rate-limit-identity': 'rate_limit.exceeded',
  authenticate: 'authn.failed',
  authorize: 'authz.denied',
  translate: 'authn.failed',
}

/** The audit event for a request the gateway refused (4xx), or undefined for a failure (5xx). */
export function rejectionEvent(error: unknown, stage: string, req: { method: string; path: string }, ctx: RequestContext): AuditEventInput | undefined {
  if (!isBulwarkError(error) || error.status >= 500) return undefined
  const p = ctx.principal
  let type = AUDIT_TYPES[stage] ?? 'request.rejected'
  if (error.code === 'BW_GATEWAY_BLOCKED') type = 'request.blocked'
  return {
    type,
    actor: p ? { kind: p.kind, id: p.subject, clientId: p.clientId, ip: ctx.clientIp } : { kind: 'anonymous', ip: ctx.clientIp || undefined },
    action: `${req.method} ${ctx.route?.id ?? 'unrouted'}`.slice(0, 128),
    resource: req.path.slice(0, 512),
    outcome: error.extensions.outcome === 'error' ? 'error' : 'denied',
    reason: error.code,
    route: ctx.route?.id,
    requestId: ctx.requestId,
    // A refused repeated header names which one (a header name, never its value).
    details: typeof error.extensions.header === 'string' ? { stage, status: error.status, header: error.extensions.header } : { stage, status: error.status },
  }
}

/** Problem+json body and headers for an error (RFC 9457); non-exposed errors carry only the request id. */
export function problemResponse(error: unknown, requestId: string): { status: number; headers: Record<string, string>; body: string } {
  const problem = toProblem(error, requestId)
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store' }
  if (isBulwarkError(error)) Object.assign(headers, error.headers)
  return { status: problem.status, headers, body: JSON.stringify(problem) }
}

export function emitRejection(audit: AuditSink, error: unknown, stage: string, req: { method: string; path: string }, ctx: RequestContext): void {
  const event = rejectionEvent(error, stage, req, ctx)
  if (event) audit.emit(event)
}
