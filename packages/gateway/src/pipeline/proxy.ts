// Proxy: the request goes to the upstream over mTLS (the peer's dispatcher
// checks its SPIFFE ID) with an allow-listed set of headers: hop-by-hop ones
// (RFC 9110 §7.6.1) and everything a client could use to pose as the gateway
// or someone else (X-Forwarded-*, Forwarded, X-Real-IP, X-Request-Id, client
// certificates, method overrides, the caller's Authorization) are dropped, then
// set by us. `/internal/*` is never routed. Idempotent methods (RFC 9110
// §9.2.2) are retried on connection failures; a circuit breaker per upstream
// sheds load from a failing one.
import type { Dispatcher } from 'undici'
import type { Clock } from '@bulwark/core'
import { GatewayErrors } from '../errors.ts'
import { isInternalPath } from '../path.ts'
import { sendUpstream } from '../upstream-request.ts'
import { createCircuitBreaker, type CircuitBreaker } from '@bulwark/sdk/service'
import type { Stage, RequestContext, GatewayRequest } from './types.ts'

/** An upstream: REST URL, SPIFFE ID, mTLS dispatcher, and its gRPC listener's URL when it serves gRPC. */
export type UpstreamPeer = { url: string; spiffeId: string; dispatcher: Dispatcher; grpcUrl?: string }

export type ProxyOptions = {
  peer(name: string): UpstreamPeer
  /** Host the public URL names (sent as X-Forwarded-Host). */
  publicHost: string
  headersTimeoutMs: number
  bodyTimeoutMs: number
  retries: number
  breakerFailures: number
  breakerCooldownMs: number
  clock: Clock
}


const DROP_REQUEST = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect', 'http2-settings', 'authorization', 'cookie',
  'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-prefix',
  'x-forwarded-server', 'x-forwarded-client-cert', 'x-real-ip', 'x-client-ip', 'x-cluster-client-ip', 'true-client-ip',
  'cf-connecting-ip', 'fastly-client-ip', 'x-original-forwarded-for', 'x-request-id', 'x-correlation-id', 'x-original-url',
  'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override', 'x-client-cert', 'x-ssl-client-cert',
  'x-spiffe-id', 'x-envoy-external-address', 'x-envoy-internal', 'x-envoy-original-path',
])
const DROP_RESPONSE = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'x-powered-by', 'server', 'http2-settings',
  // The edge's own security headers (response.ts securityHeaders) are the gateway's to set, never an upstream's.
  'strict-transport-security', 'x-content-type-options', 'referrer-policy', 'x-frame-options', 'cross-origin-opener-policy',
])
/** Answers up to this size (of known length) are buffered and sent in one write; larger ones stream. */
const BUFFER_LIMIT = 256 * 1024
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])
const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED'])

const NO_TOKENS: ReadonlySet<string> = new Set()

function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> {
  if (value === undefined) return NO_TOKENS
  return new Set([value].flat().join(',').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean))
}

export function forwardHeaders(req: GatewayRequest, ctx: RequestContext, publicHost: string): Record<string, string | string[]> {
  const listed = connectionTokens(req.headers.connection)
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(':') || name.startsWith('x-bulwark-') || DROP_REQUEST.has(name) || listed.has(name)) continue
    out[name] = value
  }
  if (ctx.route?.forwardCookies && req.headers.cookie !== undefined) out.cookie = req.headers.cookie
  if (ctx.route?.forwardAuthorization && ctx.route.public && req.headers.authorization !== undefined) out.authorization = req.headers.authorization
  out['x-request-id'] = ctx.requestId
  out['x-forwarded-for'] = ctx.clientIp
  out['x-forwarded-proto'] = 'https'
  out['x-forwarded-host'] = publicHost
  if (ctx.upstreamToken) out.authorization = `Bearer ${ctx.upstreamToken}`
  return out
}

export function responseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const listed = connectionTokens(headers.connection)
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROP_RESPONSE.has(name) || listed.has(name)) continue
    out[name] = value
  }
  return out
}

export function createProxyStage(options: ProxyOptions): Stage & { breaker(name: string): CircuitBreaker } {
  const breakers = new Map<string, CircuitBreaker>()
  const breaker = (name: string) => {
    let b = breakers.get(name)
    if (!b) breakers.set(name, b = createCircuitBreaker({ failures: options.breakerFailures, cooldownMs: options.breakerCooldownMs, clock: options.clock }))
    return b
  }
  return {
    name: 'proxy',
    breaker,
    async run(req, ctx) {
      const route = ctx.route!
      // A gRPC route is reached only through the gRPC edge (grpc/edge.ts), never as plain HTTP.
      if (route.grpc) throw GatewayErrors.routeNotFound(`no route for \`${req.method} ${req.path.slice(0, 200)}\``)
      let path = req.path
      if (route.stripPrefix && (path === route.stripPrefix || path.startsWith(`${route.stripPrefix}/`))) path = path.slice(route.stripPrefix.length) || '/'
      if (isInternalPath(path) || isInternalPath(req.path)) throw GatewayErrors.routeNotFound('no such route')
      const peer = options.peer(route.upstream)
      const circuit = breaker(route.upstream)
      const wait = circuit.blockedForMs()
      if (wait > 0) throw GatewayErrors.upstreamUnavailable(`upstream \`${route.upstream}\` is failing; try later`, { headers: { 'retry-after': String(Math.ceil(wait / 1000)) } })
      const headers = forwardHeaders(req, ctx, options.publicHost)
      const attempts = IDEMPOTENT.has(req.method) ? options.retries + 1 : 1
      for (let attempt = 1; ; attempt++) {
        try {
          const response = await sendUpstream(peer.dispatcher, {
            origin: peer.url, path: req.query ? `${path}?${req.query}` : path, method: req.method as Dispatcher.HttpMethod,
            headers, body: req.body && req.body.length > 0 ? req.body : undefined,
            headersTimeout: route.timeoutMs ?? options.headersTimeoutMs, bodyTimeout: options.bodyTimeoutMs,
          }, BUFFER_LIMIT)
          if (response.statusCode === 502 || response.statusCode === 503) circuit.failure()
          else circuit.success()
          ctx.upstream = { statusCode: response.statusCode, headers: responseHeaders(response.headers), body: response.body }
          return
        } catch (error) {
          const code = (error as { code?: string }).code ?? ''
          if (attempt < attempts && RETRYABLE.has(code)) continue
          circuit.failure()
          ctx.log.warn({ upstream: route.upstream, code, err: (error as Error).message }, 'upstream request failed')
          if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') throw GatewayErrors.upstreamTimeout(`upstream \`${route.upstream}\` timed out`)
          throw GatewayErrors.upstreamFailed(`upstream \`${route.upstream}\` failed`)
        }
      }
    },
  }
}
