// createGateway(config, deps): the edge. A Fastify server (HTTP/2 + HTTP/1.1
// over TLS 1.2+) whose one catch-all route runs the pipeline: stages that need
// no body in onRequest (before the body is read), the rest in the handler.
import type { FastifyInstance } from 'fastify'
import { createServiceServer, loadConfig, systemClock, type AuditSink, type Authorizer, type Clock, type Health, type Logger, type Metrics, type RevocationView, type SvidSource } from '@bulwark/core'
import { GatewayConfigSchema, type GatewayConfig } from './config.ts'
import { compileRoutes, type RouteTable } from './routes.ts'
import { createMemoryRateLimitStore, type RateLimitStore } from './rate-limit-store.ts'
import { createRedisRateLimitStore } from './rate-limit-redis.ts'
import { createKeySet, type KeySet } from '@bulwark/sdk/service'
import { createRevocationList, type RevocationList } from './feeds/revocations.ts'
import { createBlockList, type BlockList } from './feeds/blocks.ts'
import { startLongPoll, type LongPoll } from './feeds/long-poll.ts'
import { createRedirectServer, edgeServerOptions, rotateEdgeCertificate } from './edge-tls.ts'
import { startPeerHealth } from './peer-health.ts'
import { createIpFilterStage } from './pipeline/ip-filter.ts'
import { createRateLimitStage } from './pipeline/rate-limit.ts'
import { createAuthenticateStage } from './pipeline/authenticate.ts'
import { createAuthorizeStage } from './pipeline/authorize.ts'
import { createValidateStage } from './pipeline/validate.ts'
import { createTranslateStage } from './pipeline/translate.ts'
import { createProxyStage, type UpstreamPeer } from './pipeline/proxy.ts'
import { createPipeline } from './pipeline/run.ts'
import { registerEdgeRoutes } from './handler.ts'
import { readRoutesFile } from './reload.ts'
import { listenOnBothLoopbacks } from './loopback.ts'
import { createClientErrorHandler } from './client-error.ts'
import { createResponseStage, securityHeaders } from './pipeline/response.ts'
import { createGrpcEdge } from './grpc/edge.ts'
import { createGrpcUpstreams } from './grpc/upstream.ts'
import { interceptGrpc } from './grpc/intercept.ts'

export type GatewayDeps = {
  log: Logger
  metrics: Metrics
  audit: AuditSink
  clock?: Clock
  /** The gateway's SVID: edge certificate (unless config names files) and, inside `peer`, the mTLS client. */
  svid?: SvidSource
  authorizer: Authorizer
  /** A peer component by name: internal URL, SPIFFE ID and an mTLS dispatcher that checks it. */
  peer(name: string): UpstreamPeer
  /** Components whose `/readyz` must pass before `/healthz` does. */
  healthPeers?: readonly string[]
  /** Every peer by name: a route to any other service is refused. Absent: not checked. */
  services?: readonly string[]
  /** The public URL, which is also the OIDC issuer. */
  publicUrl: string
  /** Replicas share the public port (SO_REUSEPORT), on both loopback addresses. */
  reusePort?: boolean
  health?: Health
  rateLimitStore?: RateLimitStore
  /** Revoked serials and quarantined SPIFFE IDs, checked on the gRPC upstream hop (REST dispatchers come with `peer`). */
  revocation?: RevocationView
}

export type Gateway = {
  app: FastifyInstance
  readonly routes: RouteTable
  /** Port of the plain-HTTP redirect listener, when configured and listening. */
  readonly redirectPort: number | undefined
  /** Replaces the route table; throws (keeping the old table) when the new one is bad. */
  reload(routes: readonly unknown[] | undefined): void
  keys: KeySet
  revocations: RevocationList
  blocks: BlockList
  readonly exchanges: number
  close(): Promise<void>
}

/**
 * Builds the gateway without listening. Example:
 * ```ts
 * const gw = createGateway({}, { log, metrics, audit, svid, authorizer, peer, publicUrl: 'https://localhost:8443' })
 * await gw.app.listen({ host: 'localhost', port: 8443 })
 * ```
 */
export function createGateway(input: unknown, deps: GatewayDeps): Gateway {
  const config: GatewayConfig = loadConfig(GatewayConfigSchema, { value: input, source: 'gateway' })
  if (!deps.svid && !(config.tls.certFile && config.tls.keyFile)) throw new TypeError('createGateway: give deps.svid or tls.certFile + tls.keyFile for the edge certificate')
  const clock = deps.clock ?? systemClock
  const publicUrl = config.publicUrl ?? deps.publicUrl
  let routes = compileRoutes(config.routesFile ? readRoutesFile(config.routesFile) : config.routes, { services: deps.services })
  const revocations = createRevocationList({ now: () => clock.now() })
  const blocks = createBlockList()
  const identity = () => deps.peer('identity')
  const keys = createKeySet({
    clock, log: deps.log, refetchIntervalMs: config.authn.jwksRefetchIntervalMs, maxAgeMs: config.authn.jwksMaxAgeMs,
    async fetchJwks() {
      const { url, dispatcher } = identity()
      const response = await dispatcher.request({ origin: url, path: '/oauth2/jwks', method: 'GET', headers: { accept: 'application/json' }, headersTimeout: 5000, bodyTimeout: 5000 })
      if (response.statusCode !== 200) {
        await response.body.dump()
        throw new Error(`jwks answered ${response.statusCode}`)
      }
      return await response.body.json() as never
    },
  })
  const authenticate = createAuthenticateStage({
    keys, issuer: publicUrl, audiences: config.authn.audiences.length > 0 ? config.authn.audiences : [publicUrl, ...(deps.svid ? [deps.svid.current().spiffeId] : [])],
    algorithms: config.authn.algorithms, clockSkewSeconds: config.authn.clockSkewSeconds, maxTokenBytes: config.limits.maxTokenBytes,
    cacheSize: config.authn.verifiedCacheSize, clock, revocations,
  })
  const redisStore = !deps.rateLimitStore && config.rateLimit.redisUrl
    ? createRedisRateLimitStore({ url: config.rateLimit.redisUrl, log: deps.log, metrics: deps.metrics })
    : undefined
  const store = deps.rateLimitStore ?? redisStore ?? createMemoryRateLimitStore()
  const limits = { enabled: config.rateLimit.enabled, anonymous: config.rateLimit.anonymous, client: config.rateLimit.client, user: config.rateLimit.user, store, clock, blocks }
  const translate = createTranslateStage({
    identity, audienceOf: (name) => deps.peer(name).spiffeId, clientId: config.exchange.clientId,
    cacheSize: config.exchange.cacheSize, timeoutMs: config.exchange.timeoutMs, clock,
  })
  const proxy = createProxyStage({ peer: deps.peer, publicHost: new URL(publicUrl).host, clock, ...config.upstream })
  const beforeBody = createPipeline([
    createResponseStage(),
    createIpFilterStage(config.ipFilter),
    createRateLimitStage({ ...limits, phase: 'ip', hasKnownToken: (req) => authenticate.hasKnownToken(req) }),
    authenticate,
    createRateLimitStage({ ...limits, phase: 'identity' }),
    createAuthorizeStage({ authorizer: deps.authorizer }),
  ], deps.metrics)
  const afterBody = createPipeline([
    createValidateStage({ maxBodyBytes: config.limits.maxBodyBytes, maxJsonDepth: config.limits.maxJsonDepth }),
    translate,
    proxy,
  ], deps.metrics)

  const app = createServiceServer({
    name: 'gateway', log: deps.log, http2: true, bodyLimit: config.limits.maxBodyBytes,
    https: edgeServerOptions(deps.svid, config.tls, config.limits) as never,
    fastify: { http2SessionTimeout: config.limits.requestTimeoutMs, connectionTimeout: config.limits.requestTimeoutMs * 2, exposeHeadRoutes: false, routerOptions: { maxParamLength: 8192 }, clientErrorHandler: createClientErrorHandler(deps.audit, deps.metrics, securityHeaders(config.hsts)) } as never,
  })
  const server = app.server as unknown as { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; maxHeadersCount: number; setSecureContext(o: object): void }
  server.headersTimeout = config.limits.headersTimeoutMs
  server.requestTimeout = config.limits.requestTimeoutMs
  server.keepAliveTimeout = config.limits.keepAliveTimeoutMs
  server.maxHeadersCount = config.limits.maxHeaderCount
  const stopRotation = deps.svid ? rotateEdgeCertificate(server, deps.svid, config.tls) : () => {}
  // gRPC calls (HTTP/2, application/grpc) take the same stages, then stream to the upstream's gRPC listener.
  const grpcUpstreams = deps.svid ? createGrpcUpstreams({ svid: deps.svid, revocation: deps.revocation }) : undefined
  if (grpcUpstreams) {
    interceptGrpc(app.server as never, createGrpcEdge({
      config, deps, routes: () => routes, beforeBody, translate: createPipeline([translate], deps.metrics), upstreams: grpcUpstreams,
      publicHost: new URL(publicUrl).host, metrics: deps.metrics,
    }))
  }

  const feeds: LongPoll[] = []
  if (config.feeds.revocations) {
    feeds.push(startLongPoll({ name: 'revocations', ...identity(), path: '/admin/v1/revocations', waitSeconds: config.feeds.waitSeconds, log: deps.log, onEntries: (e) => revocations.apply(e) }))
  }
  if (config.feeds.blocks) {
    try {
      const audit = deps.peer('audit')
      feeds.push(startLongPoll({ name: 'blocks', ...audit, path: '/v1/blocks', waitSeconds: config.feeds.waitSeconds, log: deps.log, onEntries: (e) => blocks.apply(e, clock.now()) }))
    } catch (error) {
      deps.log.warn({ err: (error as Error).message }, 'no audit peer: block list feed disabled')
    }
  }
  const peerHealth = startPeerHealth({ names: deps.healthPeers ?? [], peer: deps.peer, intervalMs: config.health.pollIntervalMs, log: deps.log })

  const closeLoopback = listenOnBothLoopbacks(app, deps.log, deps.reusePort)
  const redirect = config.httpRedirectPort === undefined ? undefined : createRedirectServer(publicUrl)
  if (redirect) {
    app.addHook('onListen', async () => {
      const host = (app.addresses() as Array<{ address: string }>)[0]?.address ?? '127.0.0.1'
      await new Promise<void>((resolve, reject) => redirect.once('error', reject).listen(config.httpRedirectPort, host, () => resolve()))
    })
  }
  let closed = false
  app.addHook('onClose', async () => {
    closed = true
    await closeLoopback()
    if (redirect?.listening) await new Promise((resolve) => redirect.close(resolve))
    stopRotation()
    grpcUpstreams?.close()
    peerHealth.stop()
    for (const feed of feeds) feed.stop()
  })
  registerEdgeRoutes(app, {
    config, deps, beforeBody, afterBody, peerHealth,
    routes: () => routes,
  })

  return {
    app,
    get routes() { return routes },
    get redirectPort() { return redirect?.listening ? (redirect.address() as { port: number }).port : undefined },
    reload(next) {
      routes = compileRoutes(next, { services: deps.services })
      deps.log.info({ routes: routes.routes.length }, 'route table reloaded')
    },
    keys, revocations, blocks,
    get exchanges() { return translate.exchanges },
    async close() {
      if (!closed) await app.close()
      await redisStore?.close()
    },
  }
}
