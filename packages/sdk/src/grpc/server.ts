// createSecureGrpcServer: a grpc-js server with the same zero-trust defaults
// as createSecureService (secure-service.ts), per call:
//   1. an mTLS peer with a SPIFFE ID, not revoked or quarantined (the chain was
//      verified in the handshake; this re-checks on every call, so a
//      revocation reaches kept-alive HTTP/2 connections too);
//   2. policy permission for that peer to `call` `Endpoint::"<service>:POST /<pkg.Service>/<Method>"`;
//   3. an internal access token from the `authorization` metadata addressed to
//      this service (audience, `act` chain = the peer, revocation feed), unless
//      the method says `auth: 'optional'` and no token is sent;
// then the handler, which asks `call.authorize(action, resource)` (Cedar) as a
// REST handler does. Refusals are gRPC statuses (core grpcStatusOf) with the
// stable error code in the `bulwark-code` trailer, and audit events like REST's.
// Its own listener (`grpcPort`): grpc-js serves only on an HTTP/2 server it
// creates itself, so it cannot share the REST (HTTP/1.1) listener.
import { randomUUID } from 'node:crypto'
import grpc from '@grpc/grpc-js'
import {
  BulwarkError, encodeGrpcMessage, grpcStatusOf, isBulwarkError, checkPeerCertificate, spiffeIdOfCertificate,
  type Authorizer, type AuditSink,
} from '@bulwark/core'
import type { ComponentRuntime } from '../runtime/index.ts'
import { ANONYMOUS, createRequestAuthorize } from '../service/authorize.ts'
import { ServiceErrors } from '../service/errors.ts'
import { createJwksResolver } from '../service/jwks.ts'
import { checkCall } from '../service/peer-policy.ts'
import { loadPolicyAuthorizer } from '../service/policy-source.ts'
import { createRevocationFeed, type RevocationFeed } from '../service/revocation-feed.ts'
import { createTokenVerifier, type TokenVerifier } from '../service/token-verifier.ts'
import type { AuthContext, AuthorizeFn } from '../service/types.ts'
import { svidServerCredentials } from './credentials.ts'

/** What a gRPC handler sees of its caller (the REST request's `auth`/`accessToken`/`authorize`). */
export type GrpcCallContext = {
  auth: AuthContext
  /** The internal token, for onward token exchange. Never log it. */
  accessToken: string | undefined
  authorize: AuthorizeFn
  /** `/pkg.Service/Method`. */
  method: string
  requestId: string
  peerSpiffeId: string
  metadata: grpc.Metadata
}

export type GrpcUnaryMethod<Req = any, Res = any> = {
  /** `required` (default): a valid internal token; `optional`: anonymous callers allowed when no token is sent. */
  auth?: 'required' | 'optional'
  handler(request: Req, call: GrpcCallContext): Promise<Res>
}

export type SecureGrpcServerOptions = {
  /** Service name used in `Endpoint::"<name>:…"`; default the component name. */
  name?: string
  authorizer?: Authorizer
  verifier?: TokenVerifier
  revocations?: boolean
  /** Largest request message accepted (grpc-js refuses bigger ones with RESOURCE_EXHAUSTED); default 64 KiB like REST bodies. */
  maxReceiveBytes?: number
}

export type SecureGrpcServer = {
  /** Registers the unary methods of a service (from `@grpc/proto-loader` + `loadPackageDefinition`); every method must be given. */
  addService(service: grpc.ServiceDefinition, methods: Record<string, GrpcUnaryMethod>): void
  /** Binds `host:port` (0 picks a free port) over mTLS with the rotating SVID; resolves to the bound port. */
  listen(host: string, port: number): Promise<number>
  close(): Promise<void>
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/
const ANONYMOUS_AUTH: AuthContext = Object.freeze({ authenticated: false, sub: 'anonymous', roles: [], scopes: [], mfa: false, principal: ANONYMOUS }) as AuthContext

function single(metadata: grpc.Metadata, key: string): string | undefined | null {
  const values = metadata.get(key)
  if (values.length > 1) return null
  return typeof values[0] === 'string' ? values[0] : undefined
}

/** A grpc-js error for a thrown value: exposed BulwarkErrors keep their message and code, anything else is INTERNAL. */
export function toGrpcError(error: unknown, requestId: string): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata()
  metadata.set('x-request-id', requestId)
  if (isBulwarkError(error) && error.expose) {
    metadata.set('bulwark-code', error.code)
    return { code: grpcStatusOf(error.status), details: encodeGrpcMessage(error.message), metadata }
  }
  if (isBulwarkError(error)) {
    metadata.set('bulwark-code', error.code)
    return { code: grpcStatusOf(error.status), details: 'unavailable', metadata }
  }
  return { code: grpc.status.INTERNAL, details: 'internal error', metadata }
}

function denyPeer(audit: AuditSink, service: string, method: string, requestId: string, reason: string, spiffeId?: string): void {
  audit.emit({
    type: 'authz.denied', actor: { kind: spiffeId ? 'service' : 'anonymous', ...(spiffeId ? { spiffeId } : {}) },
    action: 'call', resource: `${service}:POST ${method}`, outcome: 'denied', reason, route: method, requestId,
  })
}

/**
 * @example
 * const grpcServer = await createSecureGrpcServer(rt)
 * grpcServer.addService(pkg.shop.catalog.v1.Catalog.service, { GetProduct: { auth: 'optional', handler: async (req, call) => … } })
 * await grpcServer.listen(rt.bootstrap.listen.host, config.grpcPort)
 */
export async function createSecureGrpcServer(rt: ComponentRuntime, options: SecureGrpcServerOptions = {}): Promise<SecureGrpcServer> {
  const service = options.name ?? rt.bootstrap.component
  const ownAuthorizer = options.authorizer ? undefined : loadPolicyAuthorizer(rt)
  const authorizer: Authorizer = options.authorizer ?? ownAuthorizer!
  let revocations: RevocationFeed | undefined
  let verify = options.verifier
  if (!verify) {
    const identity = rt.peer('identity')
    if (options.revocations !== false) {
      revocations = createRevocationFeed({ url: `${identity.url}/admin/v1/revocations`, dispatcher: identity.dispatcher, log: rt.log, clock: rt.clock })
      const feed = revocations
      rt.health.addCheck('grpc-revocations', () => feed.healthy())
    }
    verify = createTokenVerifier({
      keys: createJwksResolver({ url: `${identity.url}/oauth2/jwks`, dispatcher: identity.dispatcher, log: rt.log }),
      issuer: rt.bootstrap.publicUrl, audience: rt.bootstrap.spiffeId, clock: rt.clock, revocations,
    })
  }
  const verifier = verify
  const credentials = svidServerCredentials(rt.svid)
  const server = new grpc.Server({ 'grpc.max_receive_message_length': options.maxReceiveBytes ?? 64 * 1024 })
  const denials = rt.metrics.counter('bulwark_service_grpc_denials_total', 'gRPC calls refused by the service sdk', ['reason'])

  async function admit(call: grpc.ServerUnaryCall<unknown, unknown>, method: string, config: GrpcUnaryMethod, requestId: string): Promise<GrpcCallContext> {
    const cert = call.getAuthContext().sslPeerCertificate
    const refused = checkPeerCertificate(cert, rt.revocation)
    const spiffeId = cert ? spiffeIdOfCertificate(cert) : undefined
    if (refused || !spiffeId) {
      denials.inc({ reason: 'BW_PEER_MISSING' })
      denyPeer(rt.audit, service, method, requestId, 'BW_PEER_MISSING', spiffeId)
      throw ServiceErrors.peerMissing()
    }
    const decision = checkCall(authorizer, spiffeId, service, 'POST', method)
    if (decision.decision !== 'allow' || decision.errors.length > 0) {
      denials.inc({ reason: 'BW_PEER_IDENTITY' })
      denyPeer(rt.audit, service, method, requestId, 'BW_PEER_IDENTITY', spiffeId)
      throw ServiceErrors.peerDenied(`peer \`${spiffeId}\` may not call \`${method}\``)
    }
    const target = { auth: ANONYMOUS_AUTH, id: requestId, routeOptions: { url: method } }
    const context: GrpcCallContext = {
      auth: ANONYMOUS_AUTH, accessToken: undefined, method, requestId, peerSpiffeId: spiffeId, metadata: call.metadata,
      authorize: createRequestAuthorize({ authorizer, audit: rt.audit, service }, target),
    }
    const header = single(call.metadata, 'authorization')
    if (header === undefined && config.auth === 'optional') return context
    try {
      const match = typeof header === 'string' && header.length <= 8192 ? BEARER.exec(header) : null
      if (!match) throw header === undefined ? ServiceErrors.tokenMissing() : ServiceErrors.tokenInvalid('authorization metadata is not one bearer token')
      context.auth = target.auth = await verifier(match[1]!, spiffeId)
      context.accessToken = match[1]!
      return context
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'BW_AUTHN_TOKEN_INVALID'
      denials.inc({ reason: code })
      rt.audit.emit({
        type: 'token.rejected', actor: { kind: 'service', spiffeId }, action: `POST ${method}`, resource: service,
        outcome: (error as { status?: number }).status === 503 ? 'error' : 'failure', reason: code, route: method, requestId,
      })
      throw error
    }
  }

  return {
    addService(definition, methods) {
      const implementation: grpc.UntypedServiceImplementation = {}
      for (const [name, spec] of Object.entries(definition)) {
        const config = methods[name] ?? methods[spec.originalName ?? '']
        if (!config) throw new TypeError(`addService: no handler for \`${spec.path}\``)
        if (spec.requestStream || spec.responseStream) throw new TypeError(`addService: \`${spec.path}\` streams; only unary methods are supported`)
        implementation[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          const given = single(call.metadata, 'x-request-id')
          const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
          admit(call, spec.path, config, requestId)
            .then((context) => config.handler(call.request, context))
            .then((reply) => callback(null, reply), (error: unknown) => {
              if (!(error instanceof BulwarkError) || !error.expose) rt.log.error({ err: error, method: spec.path, requestId }, 'gRPC call failed')
              callback(toGrpcError(error, requestId))
            })
        }
      }
      server.addService(definition, implementation)
    },
    listen(host, port) {
      return new Promise((resolve, reject) => {
        const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
        server.bindAsync(address, credentials, (error, bound) => (error ? reject(error) : resolve(bound)))
      })
    },
    async close() {
      credentials.stop()
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => { server.forceShutdown(); resolve() }, 2000)
        force.unref()
        server.tryShutdown(() => { clearTimeout(force); resolve() })
      })
      revocations?.stop()
      await ownAuthorizer?.close()
    },
  }
}
