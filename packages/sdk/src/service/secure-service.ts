// createSecureService: a Fastify service that is zero-trust by default.
// Every route except the health probes demands, in order:
//   0. no repeat of a header that must appear once (single-headers.ts);
//   1. an mTLS peer with a SPIFFE ID (the runtime's TLS layer verified the chain);
//   2. policy permission for that peer to `call` this route (microsegmentation);
//   3. an internal access token addressed to this service (see token-verifier.ts),
//      unless the route says `config: { auth: 'optional' }` and no token is sent;
// then JSON Schema validation (validation.ts), then the handler, which asks
// `request.authorize(action, resource, entities)` for object-level decisions.
// Every refusal is an audit event.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { createServiceServer, type AuditSink, type Authorizer } from '@bulwark/core'
import type { ComponentRuntime } from '../runtime/index.ts'
import { ANONYMOUS, createRequestAuthorize } from './authorize.ts'
import { ServiceErrors } from './errors.ts'
import { createJwksResolver } from './jwks.ts'
import { checkCall } from './peer-policy.ts'
import { createRevocationFeed, type RevocationFeed } from './revocation-feed.ts'
import { createServiceClient, type ServiceClient } from './service-client.ts'
import { createTokenVerifier, type TokenVerifier } from './token-verifier.ts'
import type { TokenExchange } from './token-exchange.ts'
import type { AuthContext } from './types.ts'
import { createValidatorCompiler } from './validation.ts'
import { findRepeatedHeader } from './single-headers.ts'
import { loadPolicyAuthorizer } from './policy-source.ts'

export type SecureServiceOptions = {
  /** Service name used in `Endpoint::"<name>:…"`; default the component name. */
  name?: string
  /** The Cedar Authorizer; default: the policy service's set, kept current by the sdk policy client. */
  authorizer?: Authorizer
  /** Replace token verification (tests of the sdk itself); default: identity's JWKS + revocation feed. */
  verifier?: TokenVerifier
  /** Default true: honour identity's revocation feed (fail closed while it is unknown or stale). */
  revocations?: boolean
  exchange?: TokenExchange
  bodyLimit?: number
}

export type SecureService = FastifyInstance & {
  /** Calls another service over mTLS with an exchanged token (see service-client.ts). */
  callService: ServiceClient['callService']
}

const OPEN_ROUTES = new Set(['/healthz', '/readyz', '/metrics'])
const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/

const ANONYMOUS_AUTH: AuthContext = Object.freeze({
  authenticated: false, sub: 'anonymous', roles: [], scopes: [], mfa: false, principal: ANONYMOUS,
}) as AuthContext

function denyPeer(audit: AuditSink, request: FastifyRequest, service: string, reason: string, spiffeId?: string): void {
  audit.emit({
    type: 'authz.denied', actor: { kind: spiffeId ? 'service' : 'anonymous', ...(spiffeId ? { spiffeId } : {}), ip: request.ip },
    action: 'call', resource: `${service}:${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]!.slice(0, 200)}`,
    outcome: 'denied', reason, route: request.routeOptions.url, requestId: String(request.id),
  })
}

/**
 * Creates the Fastify app of a secured service (not listening: return it from
 * `start` and the runtime serves it over mTLS with the rotating SVID).
 *
 * @example
 * const app = await createSecureService(rt)
 * app.get('/hello', async (request) => ({ hello: request.auth.sub }))
 * return { app }
 */
export async function createSecureService(rt: ComponentRuntime, options: SecureServiceOptions = {}): Promise<SecureService> {
  const service = options.name ?? rt.bootstrap.component
  const ownAuthorizer = options.authorizer ? undefined : loadPolicyAuthorizer(rt)
  const authorizer: Authorizer = options.authorizer ?? ownAuthorizer!
  let revocations: RevocationFeed | undefined
  let verifier = options.verifier
  if (!verifier) {
    const identity = rt.peer('identity')
    if (options.revocations !== false) {
      revocations = createRevocationFeed({ url: `${identity.url}/admin/v1/revocations`, dispatcher: identity.dispatcher, log: rt.log, clock: rt.clock })
      const feed = revocations
      rt.health.addCheck('revocations', () => feed.healthy())
    }
    verifier = createTokenVerifier({
      keys: createJwksResolver({ url: `${identity.url}/oauth2/jwks`, dispatcher: identity.dispatcher, log: rt.log }),
      issuer: rt.bootstrap.publicUrl, audience: rt.bootstrap.spiffeId, clock: rt.clock, revocations,
    })
  }
  const verify = verifier
  const client = createServiceClient(rt, { exchange: options.exchange })

  const app = createServiceServer({
    name: service, log: rt.log, metrics: rt.metrics, health: rt.health, https: rt.httpsOptions(),
    bodyLimit: options.bodyLimit ?? 64 * 1024, trustRequestId: true,
  }) as SecureService
  app.setValidatorCompiler(createValidatorCompiler())
  app.decorateRequest('auth', null as unknown as AuthContext)
  app.decorateRequest('accessToken', undefined)
  app.decorateRequest('authorize', null as unknown as FastifyRequest['authorize'])
  app.decorate('callService', client.callService)
  const denials = rt.metrics.counter('bulwark_service_denials_total', 'Requests refused by the service sdk', ['reason'])

  app.addHook('onRequest', async (request) => {
    // Before anything reads a header: Node kept one of the repeats and dropped the rest.
    const repeated = findRepeatedHeader(request.raw.rawHeaders, request.raw.httpVersionMajor === 2)
    if (repeated !== undefined) {
      const code = ServiceErrors.duplicateHeader.code
      denials.inc({ reason: code })
      rt.audit.emit({
        type: 'request.rejected', actor: request.peer ? { kind: 'service', spiffeId: request.peer.spiffeId, ip: request.ip } : { kind: 'anonymous', ip: request.ip },
        action: `${request.method} ${request.routeOptions.url ?? 'unrouted'}`.slice(0, 128), resource: service, outcome: 'denied', reason: code,
        route: request.routeOptions.url, requestId: String(request.id), details: { header: repeated },
      })
      throw ServiceErrors.duplicateHeader(`request header \`${repeated}\` appears more than once`, { extensions: { header: repeated } })
    }
    const route = request.routeOptions.url
    if (route !== undefined && OPEN_ROUTES.has(route)) return
    const peer = request.peer
    if (!peer) {
      denials.inc({ reason: 'BW_PEER_MISSING' })
      denyPeer(rt.audit, request, service, 'BW_PEER_MISSING')
      throw ServiceErrors.peerMissing()
    }
    if (route === undefined) return // 404 follows
    const decision = checkCall(authorizer, peer.spiffeId, service, request.method, route)
    if (decision.decision !== 'allow' || decision.errors.length > 0) {
      denials.inc({ reason: 'BW_PEER_IDENTITY' })
      denyPeer(rt.audit, request, service, 'BW_PEER_IDENTITY', peer.spiffeId)
      throw ServiceErrors.peerDenied(`peer \`${peer.spiffeId}\` may not call \`${request.method} ${route}\``)
    }
    request.authorize = createRequestAuthorize({ authorizer, audit: rt.audit, service }, request)
    const header = request.headers.authorization
    if (header === undefined && request.routeOptions.config.auth === 'optional') {
      request.auth = ANONYMOUS_AUTH
      return
    }
    try {
      const match = typeof header === 'string' && header.length <= 8192 ? BEARER.exec(header) : null
      if (!match) throw header === undefined ? ServiceErrors.tokenMissing() : ServiceErrors.tokenInvalid('authorization header is not a bearer token')
      request.auth = await verify(match[1]!, peer.spiffeId)
      request.accessToken = match[1]!
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'BW_AUTHN_TOKEN_INVALID'
      denials.inc({ reason: code })
      rt.audit.emit({
        type: 'token.rejected', actor: { kind: 'service', spiffeId: peer.spiffeId }, action: `${request.method} ${route}`,
        resource: service, outcome: (error as { status?: number }).status === 503 ? 'error' : 'failure', reason: code,
        route, requestId: String(request.id),
      })
      throw error
    }
  })
  app.addHook('onClose', async () => {
    revocations?.stop()
    await ownAuthorizer?.close()
  })
  return app
}
