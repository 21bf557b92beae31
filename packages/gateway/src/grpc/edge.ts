// gRPC at the edge: HTTP/2 requests with `content-type: application/grpc`
// are taken before Fastify (server.ts) and run through the same stages as
// REST: IP filter, rate limits, authentication (the bearer token from the
// `authorization` metadata), Cedar authorization on the route's action, token
// translation; then each message's length prefix is held to the size limit
// (frames.ts) while the call streams to the upstream's gRPC listener
// (upstream.ts). Answers, trailers and streaming pass through; every refusal
// is a trailers-only response (HTTP 200, `grpc-status`, `grpc-message`,
// PROTOCOL-HTTP2.md) and the same audit event as a REST refusal, never an
// HTML or JSON body.
import { randomUUID } from 'node:crypto'
import { constants, type Http2ServerRequest, type Http2ServerResponse, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { TLSSocket } from 'node:tls'
import { GrpcStatus, encodeGrpcMessage, grpcStatusOf, isBulwarkError, type Metrics } from '@bulwark/core'
import type { GatewayConfig } from '../config.ts'
import type { GatewayDeps } from '../server.ts'
import type { RouteTable } from '../routes.ts'
import { GatewayErrors } from '../errors.ts'
import { checkHeaders } from '../edge-headers.ts'
import { parseRequestTarget } from '../path.ts'
import { StageError, type Pipeline } from '../pipeline/run.ts'
import { forwardHeaders } from '../pipeline/proxy.ts'
import { emitRejection } from '../pipeline/response.ts'
import type { GatewayRequest, RequestContext } from '../pipeline/types.ts'
import { createFrameChecker } from './frames.ts'
import type { GrpcUpstreams } from './upstream.ts'

export type GrpcEdgeOptions = {
  config: GatewayConfig
  deps: GatewayDeps
  routes(): RouteTable
  /** The REST pipeline's stages up to authorization (run before any message is read). */
  beforeBody: Pipeline
  /** Token translation. */
  translate: Pipeline
  upstreams: GrpcUpstreams
  publicHost: string
  metrics: Metrics
}

/** True for an HTTP/2 gRPC call (not gRPC-Web, which is HTTP/1.1-compatible and not proxied here). */
export function isGrpcRequest(req: { httpVersionMajor: number; headers: IncomingHttpHeaders }): boolean {
  const type = req.headers['content-type']
  if (req.httpVersionMajor !== 2 || typeof type !== 'string') return false
  const media = type.split(';')[0]!.trim().toLowerCase()
  return media === 'application/grpc' || media.startsWith('application/grpc+')
}

// Hop-by-hop and connection-level names never forwarded either way (RFC 9113 §8.2.2), plus what the gateway sets itself.
const DROP_ANSWER = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'server', 'x-powered-by', 'x-request-id'])

function answerHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || DROP_ANSWER.has(name)) continue
    out[name] = value
  }
  return out
}

function grpcCodeOf(error: unknown): number {
  if (!isBulwarkError(error)) return GrpcStatus.INTERNAL
  if (error.code === 'BW_GRPC_UNIMPLEMENTED' || error.code === 'BW_NOT_FOUND' || error.code === 'BW_METHOD_NOT_ALLOWED') return GrpcStatus.UNIMPLEMENTED
  return grpcStatusOf(error.status)
}

/** The status trailers of a refusal: exposed errors keep their message and code; others say only what kind of failure it was. */
function statusTrailers(error: unknown, requestId: string): OutgoingHttpHeaders {
  const code = grpcCodeOf(error)
  const exposed = isBulwarkError(error) && error.expose
  const out: OutgoingHttpHeaders = {
    'grpc-status': String(code),
    'grpc-message': encodeGrpcMessage(exposed ? error.message : code === GrpcStatus.UNAVAILABLE ? 'upstream unavailable' : 'internal error'),
    'x-request-id': requestId,
  }
  if (isBulwarkError(error)) {
    out['bulwark-code'] = error.code
    for (const [name, value] of Object.entries(error.headers)) out[name.toLowerCase()] = value
  }
  return out
}

/**
 * After a refusal, what the client still sends is read and dropped; past `limit` bytes the stream is reset
 * (RST_STREAM NO_ERROR, RFC 9113 §8.1). Not reset at once: a reset can overtake the refusal's HEADERS.
 */
function discardRest(stream: ServerHttp2Stream, limit: number): void {
  let seen = 0
  stream.on('data', (chunk: Buffer) => {
    seen += chunk.length
    if (seen > limit && !stream.closed) stream.close(constants.NGHTTP2_NO_ERROR)
  })
  stream.resume()
}

export function createGrpcEdge(options: GrpcEdgeOptions): (req: Http2ServerRequest, res: Http2ServerResponse) => void {
  const { config, deps } = options
  const calls = options.metrics.counter('bulwark_gateway_grpc_calls_total', 'gRPC calls answered by the gateway', ['route', 'code'])
  const count = (ctx: RequestContext, code: number | string) => calls.inc({ route: ctx.route?.id ?? 'unrouted', code: String(code) })

  /** Ends the call with a refusal: trailers-only when nothing was sent yet, else as trailers after the data. */
  function refuse(stream: ServerHttp2Stream, error: unknown, stage: string, req: { method: string; path: string }, ctx: RequestContext, state: { trailers?: OutgoingHttpHeaders }): void {
    const cause = error instanceof StageError ? error.cause : error
    const where = error instanceof StageError ? error.stage : stage
    emitRejection(deps.audit, cause, where, req, ctx)
    if (!isBulwarkError(cause) || !cause.expose) ctx.log.warn({ err: cause, stage: where }, 'gRPC call failed')
    const trailers = { ...ctx.responseHeaders, ...statusTrailers(cause, ctx.requestId) }
    count(ctx, trailers['grpc-status'] as string)
    if (stream.destroyed || stream.closed) return
    if (!stream.headersSent) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...trailers }, { endStream: true })
      discardRest(stream, config.limits.maxBodyBytes)
      return
    }
    state.trailers = trailers
    if (!stream.writableEnded) stream.end()
  }

  async function handle(request: Http2ServerRequest, response: Http2ServerResponse): Promise<void> {
    const stream = response.stream
    const socket = request.socket as unknown as TLSSocket
    const ctx: RequestContext = { requestId: randomUUID(), log: deps.log, params: {}, clientIp: '', responseHeaders: {} }
    const state: { trailers?: OutgoingHttpHeaders } = {}
    const where = { method: request.method, path: (request.url ?? '').split('?')[0]!.slice(0, 512) }
    // The HTTP/2 compatibility response would send its own (empty) trailers: ours are the status.
    stream.removeAllListeners('wantTrailers')
    stream.on('wantTrailers', () => stream.sendTrailers(state.trailers ?? { 'grpc-status': String(GrpcStatus.INTERNAL), 'grpc-message': 'upstream ended without a status' }))
    let req: GatewayRequest
    try {
      // Ambiguous or oversized header lists are refused before any stage, as on the REST path.
      checkHeaders(request.rawHeaders, true, config)
      if (request.method !== 'POST') throw GatewayErrors.grpcUnimplemented('gRPC calls are POST requests')
      const { path, query, segments } = parseRequestTarget(request.url ?? '', config.limits.maxUrlLength)
      req = {
        method: 'POST', path, query, segments, headers: request.headers, remoteAddress: socket.remoteAddress ?? '',
        get clientCertificate() {
          const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined
          return cert && cert.raw ? cert.raw : undefined
        },
      }
      const match = options.routes().match('POST', segments)
      if (!match || 'allowed' in match || !match.route.grpc) throw GatewayErrors.grpcUnimplemented(`no gRPC method \`${path.slice(0, 200)}\``)
      ctx.route = match.route
      await options.beforeBody(req, ctx)
      await options.translate(req, ctx)
    } catch (error) {
      refuse(stream, error, 'edge', where, ctx, state)
      return
    }
    const route = ctx.route
    const peer = deps.peer(route.upstream)
    if (!peer.grpcUrl) {
      refuse(stream, GatewayErrors.upstreamUnavailable(`upstream \`${route.upstream}\` serves no gRPC`), 'proxy', where, ctx, state)
      return
    }
    const headers: OutgoingHttpHeaders = {
      ...forwardHeaders(req, ctx, options.publicHost),
      ':method': 'POST', ':path': req.path, ':scheme': 'https', ':authority': new URL(peer.grpcUrl).host, te: 'trailers',
    }
    let upstream
    try {
      upstream = options.upstreams.session(peer.grpcUrl, peer.spiffeId).request(headers, { endStream: false })
    } catch (error) {
      refuse(stream, GatewayErrors.upstreamUnavailable(`upstream \`${route.upstream}\` unavailable`, { cause: error }), 'proxy', where, ctx, state)
      return
    }
    const checker = createFrameChecker(route.maxBodyBytes ?? config.limits.maxBodyBytes)
    let finished = false
    const fail = (error: unknown, stage: string) => {
      if (finished) return
      finished = true
      request.unpipe(checker)
      checker.unpipe(upstream)
      if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL)
      refuse(stream, error, stage, where, ctx, state)
    }
    checker.on('error', (error) => fail(error, 'validate'))
    request.pipe(checker).pipe(upstream)
    // The client went away (cancelled, deadline): so does the upstream call.
    stream.on('close', () => {
      if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL)
    })
    upstream.on('response', (answer, flags) => {
      if (finished || stream.destroyed) return
      const out: OutgoingHttpHeaders = { ...answerHeaders(answer), ...ctx.responseHeaders, 'x-request-id': ctx.requestId }
      if (flags & constants.NGHTTP2_FLAG_END_STREAM) {
        // Trailers-only answer (a refusal upstream): passed on as it came.
        finished = true
        count(ctx, String(answer['grpc-status'] ?? ''))
        stream.respond({ ...out, ':status': answer[':status'] ?? 200 }, { endStream: true })
        return
      }
      stream.respond({ ...out, ':status': answer[':status'] ?? 200 }, { waitForTrailers: true })
      upstream.pipe(stream)
    })
    upstream.on('trailers', (trailers) => {
      finished = true
      state.trailers = { ...answerHeaders(trailers) }
      count(ctx, String(trailers['grpc-status'] ?? ''))
    })
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      ctx.log.warn({ upstream: route.upstream, code: error.code, err: error.message }, 'gRPC upstream failed')
      fail(GatewayErrors.upstreamUnavailable(`upstream \`${route.upstream}\` unavailable`), 'proxy')
    })
    upstream.on('close', () => {
      // Reset or closed without trailers after the answer began: the client must not read that as success.
      if (!finished) fail(GatewayErrors.upstreamUnavailable(`upstream \`${route.upstream}\` closed the call`), 'proxy')
    })
  }

  return (request, response) => {
    handle(request, response).catch((error: unknown) => {
      deps.log.error({ err: error }, 'gRPC edge failed')
      if (!response.stream.destroyed) response.stream.close(constants.NGHTTP2_INTERNAL_ERROR)
    })
  }
}
