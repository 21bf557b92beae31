// The Fastify server every component builds on: request ids, problem+json
// errors (never a stack trace), health and metrics endpoints, and the verified
// mTLS peer on each request.
import { randomUUID } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import Fastify, { LogController, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import type { Logger } from 'pino'
import { BulwarkError, CoreErrors, PROBLEM_CONTENT_TYPE, isBulwarkError, toProblem } from './errors.ts'
import type { Health } from './health.ts'
import type { Metrics } from './metrics.ts'
import { peerOf, type Peer } from './tls.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's verified SPIFFE identity on an mTLS connection. */
    peer: Peer | undefined
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/

export type ServiceServerOptions = {
  name: string
  log: Logger
  metrics?: Metrics
  health?: Health
  /** TLS options (see mtlsServerOptions); omit for plain HTTP in tests only. */
  https?: import('node:https').ServerOptions | null
  http2?: boolean
  bodyLimit?: number
  /** Accept a caller's X-Request-Id (true behind the gateway); otherwise always mint one. */
  trustRequestId?: boolean
  /** Paths that are public even on an mTLS server (health probes). */
  fastify?: Partial<FastifyServerOptions>
}

export type ServiceServer = FastifyInstance

/** Sends an error as problem+json, logging what is not exposed. */
export function sendProblem(request: FastifyRequest, reply: import('fastify').FastifyReply, error: unknown): void {
  const problem = toProblem(error, String(request.id))
  if (!isBulwarkError(error) || !error.expose) {
    request.log.error({ err: error }, 'request failed')
  }
  if (isBulwarkError(error)) for (const [name, value] of Object.entries(error.headers)) reply.header(name, value)
  reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem)
}

export function createServiceServer(options: ServiceServerOptions): ServiceServer {
  const app = Fastify({
    loggerInstance: options.log.child({ component: options.name }) as never,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    return503OnClosing: true,
    // Fastify's default Ajv silently strips unknown fields; we refuse them (mass assignment is a 400).
    ajv: { customOptions: { removeAdditional: false, allErrors: true, coerceTypes: 'array', useDefaults: true } },
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      if (options.trustRequestId && typeof given === 'string' && REQUEST_ID.test(given)) return given
      return randomUUID()
    },
    ...(options.https ? { https: options.https } : {}),
    ...(options.http2 ? { http2: true } : {}),
    ...options.fastify,
  } as FastifyServerOptions) as unknown as FastifyInstance

  app.decorateRequest('peer', undefined)
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
    const socket = request.raw.socket as TLSSocket
    request.peer = typeof socket.getPeerCertificate === 'function' ? peerOf(socket) : undefined
  })

  app.setErrorHandler((error, request, reply) => {
    if (isBulwarkError(error)) return sendProblem(request, reply, error)
    const fastifyError = error as { validation?: Array<{ instancePath: string; message?: string; params?: Record<string, unknown> }>; statusCode?: number; code?: string; message: string }
    if (fastifyError.validation) {
      const errors = fastifyError.validation.map((v) => ({
        path: v.params && 'additionalProperty' in v.params ? `${v.instancePath}/${String(v.params.additionalProperty)}` : v.instancePath || '/',
        message: v.params && 'additionalProperty' in v.params ? 'unknown field' : v.message ?? 'invalid',
      }))
      return sendProblem(request, reply, CoreErrors.validation(`request failed validation: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, { extensions: { errors } }))
    }
    const status = fastifyError.statusCode
    if (status && status >= 400 && status < 500) {
      // Fastify's own client errors (bad JSON, body too large, wrong content type): safe to name.
      const code = status === 413 ? 'BW_PAYLOAD_TOO_LARGE' : status === 415 ? 'BW_UNSUPPORTED_MEDIA_TYPE' : 'BW_BAD_REQUEST'
      return sendProblem(request, reply, new BulwarkError(code, status, fastifyError.message.split('\n')[0]!.slice(0, 200)))
    }
    return sendProblem(request, reply, error)
  })
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, CoreErrors.notFound(`no route for \`${request.method} ${request.url.split('?')[0]!.slice(0, 200)}\``)))

  if (options.health) {
    const health = options.health
    app.get('/healthz', async (_request, reply) => {
      const report = await health.liveness()
      return reply.code(report.ok ? 200 : 503).send({ status: report.ok ? 'ok' : 'unavailable', component: options.name })
    })
    app.get('/readyz', async (_request, reply) => {
      const report = await health.readiness()
      return reply.code(report.ok ? 200 : 503).send({ status: report.ok ? 'ready' : 'not ready', checks: report.checks })
    })
  }
  if (options.metrics) {
    const registry = options.metrics.registry
    app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
  }
  return app
}

/** Throws a 403 unless the mTLS caller is one of `allowed` (SPIFFE IDs). */
export function requirePeer(request: FastifyRequest, allowed: (spiffeId: string) => boolean): Peer {
  const peer = request.peer
  if (!peer) throw CoreErrors.unauthenticated('a client certificate with a SPIFFE ID is required')
  if (!allowed(peer.spiffeId)) throw CoreErrors.peerIdentity(`peer \`${peer.spiffeId}\` may not call this route`)
  return peer
}
