// Glue between Fastify and the pipeline: builds the GatewayRequest and its
// context, checks header limits, repeated single headers (on every request,
// before any stage: sdk single-headers.ts) and the request target, routes,
// answers CORS preflights, runs the stages and writes the upstream's answer or
// a problem.
import type { TLSSocket } from 'node:tls'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { isBulwarkError } from '@bulwark/core'
import type { GatewayConfig } from './config.ts'
import type { GatewayDeps } from './server.ts'
import type { RouteTable } from './routes.ts'
import type { PeerHealth } from './peer-health.ts'
import { checkHeaders } from './edge-headers.ts'
import { GatewayErrors } from './errors.ts'
import { parseRequestTarget } from './path.ts'
import { createCidrList } from './ip.ts'
import { StageError, type Pipeline } from './pipeline/run.ts'
import type { GatewayRequest, RequestContext } from './pipeline/types.ts'
import { HTML_CSP, emitRejection, preflightHeaders, problemResponse, securityHeaders } from './pipeline/response.ts'

type State = { req: GatewayRequest; ctx: RequestContext; start: number }

export type EdgeOptions = {
  config: GatewayConfig
  deps: GatewayDeps
  beforeBody: Pipeline
  afterBody: Pipeline
  peerHealth: PeerHealth
  routes(): RouteTable
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

export function registerEdgeRoutes(app: FastifyInstance, options: EdgeOptions): void {
  const { config, deps } = options
  const states = new WeakMap<FastifyRequest, State>()
  const headers = securityHeaders(config.hsts)
  const requests = deps.metrics.counter('bulwark_gateway_requests_total', 'Requests answered by the gateway', ['route', 'method', 'status'])
  const durations = deps.metrics.histogram('bulwark_gateway_request_duration_seconds', 'Gateway request latency', ['route'],
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5])
  // Label children cached per label set: prom-client would otherwise hash the labels on every request.
  const counterChildren = new Map<string, ReturnType<typeof requests.labels>>()
  const requestCounter = (route: string, method: string, status: number) => {
    const key = `${route} ${method} ${status}`
    let child = counterChildren.get(key)
    if (!child) counterChildren.set(key, child = requests.labels({ route, method, status: String(status) }))
    return child
  }
  const durationChildren = new Map<string, ReturnType<typeof durations.labels>>()
  const routeDuration = (route: string) => {
    let child = durationChildren.get(route)
    if (!child) durationChildren.set(route, child = durations.labels({ route }))
    return child
  }
  const rejections = deps.metrics.counter('bulwark_gateway_rejections_total', 'Requests refused, by stage and code', ['stage', 'code'])
  const metricsAllow = createCidrList(config.metrics.allow)

  // Every route, health and metrics included: a request that is ambiguous or too big is refused before anything reads it.
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(headers)
    try {
      checkHeaders(request.raw.rawHeaders, request.raw.httpVersionMajor === 2, config)
    } catch (error) {
      return fail(error, undefined, request, reply)
    }
  })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))

  function fail(error: unknown, state: State | undefined, request: FastifyRequest, reply: FastifyReply) {
    let stage = 'edge'
    let cause = error
    if (error instanceof StageError) {
      stage = error.stage
      cause = error.cause
    } else if (!isBulwarkError(error)) {
      const status = (error as { statusCode?: number }).statusCode
      if (status === 413) cause = GatewayErrors.bodyTooLarge(`request body larger than ${config.limits.maxBodyBytes} bytes`)
      else if (status && status >= 400 && status < 500) cause = GatewayErrors.badRequest(String((error as Error).message).split('\n')[0]!.slice(0, 200))
    }
    const ctx = state?.ctx
    if (ctx) emitRejection(deps.audit, cause, stage, state.req, ctx)
    else emitRejection(deps.audit, cause, stage, { method: request.method, path: request.url.split('?')[0]!.slice(0, 512) }, { requestId: String(request.id), clientIp: request.ip, log: request.log as never, params: {}, responseHeaders: {} })
    const code = isBulwarkError(cause) ? cause.code : 'BW_INTERNAL'
    rejections.inc({ stage, code })
    if (!isBulwarkError(cause) || !cause.expose) request.log.error({ err: cause, stage }, 'request failed')
    const problem = problemResponse(cause, String(request.id))
    return reply.code(problem.status).headers({ ...ctx?.responseHeaders, ...problem.headers }).send(problem.body)
  }

  app.get('/healthz', async (_request, reply) => {
    const ready = options.peerHealth.ready && (deps.health ? (await deps.health.readiness()).ok : true)
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', components: options.peerHealth.status() })
  })
  app.get('/readyz', async (_request, reply) => {
    const ok = deps.health ? (await deps.health.readiness()).ok : true
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready' })
  })
  if (config.metrics.expose) {
    app.get('/metrics', async (request, reply) => {
      if (!metricsAllow.has(request.ip.replace(/^::ffff:/, ''))) return fail(GatewayErrors.routeNotFound(), undefined, request, reply)
      return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics())
    })
  }

  app.route({
    method: METHODS,
    url: '*',
    errorHandler: (error, request, reply) => fail(error, states.get(request), request, reply),
    onRequest: async (request, reply) => {
      const raw = request.raw
      const socket = raw.socket as TLSSocket
      const target = raw.url ?? ''
      const ctx: RequestContext = { requestId: String(request.id), log: request.log as never, params: {}, clientIp: '', responseHeaders: {} }
      const state: State = { req: undefined as never, ctx, start: performance.now() }
      try {
        const { path, query, segments } = parseRequestTarget(target, config.limits.maxUrlLength)
        const req: GatewayRequest = {
          method: request.method, path, query, segments, headers: request.headers, remoteAddress: socket.remoteAddress ?? '',
          get clientCertificate() {
            const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined
            return cert && cert.raw ? cert.raw : undefined
          },
        }
        state.req = req
        states.set(request, state)
        const preflight = request.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined
        const match = options.routes().match(preflight ? String(req.headers['access-control-request-method']) : request.method, segments)
        if (!match) throw GatewayErrors.routeNotFound(`no route for \`${request.method} ${path.slice(0, 200)}\``)
        if ('allowed' in match) throw GatewayErrors.methodNotAllowed(`\`${request.method}\` not allowed here`, { headers: { allow: match.allowed.join(', ') } })
        ctx.route = match.route
        ctx.params = match.params
        if (preflight) return reply.code(204).headers(preflightHeaders(match.route, req)).send()
        await options.beforeBody(req, ctx)
      } catch (error) {
        return fail(error, state.req ? state : undefined, request, reply)
      }
    },
    handler: async (request, reply) => {
      const state = states.get(request)!
      const { req, ctx } = state
      req.body = Buffer.isBuffer(request.body) ? request.body : undefined
      try {
        await options.afterBody(req, ctx)
      } catch (error) {
        return fail(error, state, request, reply)
      }
      const upstream = ctx.upstream!
      // The security headers are already set (onRequest hook); the proxy stage drops any an upstream sent.
      reply.code(upstream.statusCode).headers(upstream.headers).headers(ctx.responseHeaders)
      const type = upstream.headers['content-type']
      if (typeof type === 'string' && type.toLowerCase().startsWith('text/html') && upstream.headers['content-security-policy'] === undefined) {
        reply.header('content-security-policy', HTML_CSP)
      }
      // A small answer of known length arrives whole and goes out in one write with its headers; larger ones stream.
      return reply.send(upstream.body)
    },
    onResponse: async (request, reply) => {
      const state = states.get(request)
      const route = state?.ctx.route?.id ?? 'unrouted'
      requestCounter(route, request.method, reply.statusCode).inc()
      if (state) routeDuration(route).observe((performance.now() - state.start) / 1000)
    },
  })
}
