// Calls another service's gRPC API the zero-trust way, like callService
// (service-client.ts) does for REST: a channel over mTLS with this workload's
// SVID that accepts only the target's SPIFFE ID, and an `authorization`
// metadata entry holding a token exchanged for that target alone (RFC 8693),
// never the caller's own. Channels are rebuilt after an SVID rotation so new
// connections present the new certificate.
import grpc from '@grpc/grpc-js'
import { ServiceErrors } from '../service/errors.ts'
import { createTokenExchange, type TokenExchange } from '../service/token-exchange.ts'
import type { ComponentRuntime } from '../runtime/index.ts'
import { svidChannelCredentials } from './credentials.ts'

export type GrpcCallOptions = {
  /** The token this request came in with (`call.accessToken` / `request.accessToken`); it is exchanged, not forwarded. */
  subjectToken?: string
  requestId?: string
  /** Deadline of the call; default 10 s. */
  timeoutMs?: number
}

export type GrpcCaller = {
  /**
   * One unary call to `target`'s gRPC listener. `client` is the service's client
   * constructor from `loadPackageDefinition` (e.g. `pkg.shop.catalog.v1.Catalog`),
   * `method` its method name. Rejects with the grpc-js ServiceError (its `code` is the gRPC status).
   */
  unary<Res = unknown>(target: string, client: grpc.ServiceClientConstructor, method: string, request: object, options?: GrpcCallOptions): Promise<Res>
  close(): void
}

/**
 * @example
 * const grpcCaller = createGrpcCaller(rt)
 * const product = await grpcCaller.unary('catalog', pkg.shop.catalog.v1.Catalog, 'GetProduct', { id }, { subjectToken: request.accessToken })
 */
export function createGrpcCaller(rt: ComponentRuntime, options: { exchange?: TokenExchange } = {}): GrpcCaller {
  let exchange = options.exchange
  const clients = new Map<string, grpc.Client>()
  const tokens = (): TokenExchange => {
    if (!exchange) {
      const identity = rt.peer('identity')
      exchange = createTokenExchange({ tokenUrl: `${identity.url}/oauth2/token`, dispatcher: identity.dispatcher, clientId: `svc-${rt.bootstrap.component}`, clock: rt.clock })
    }
    return exchange
  }
  const dropClients = () => {
    for (const client of clients.values()) client.close()
    clients.clear()
  }
  const stopRotation = rt.svid.onRotate(dropClients)
  const clientFor = (target: string, Ctor: grpc.ServiceClientConstructor) => {
    const peer = rt.peer(target)
    if (!peer.grpcUrl) throw new TypeError(`createGrpcCaller: \`${target}\` serves no gRPC (no grpcPort in its config)`)
    const key = `${target}|${Ctor.serviceName}`
    let client = clients.get(key)
    if (!client) {
      const url = new URL(peer.grpcUrl)
      client = new Ctor(url.host, svidChannelCredentials(rt.svid, peer.spiffeId, rt.revocation))
      clients.set(key, client)
    }
    return { client, spiffeId: peer.spiffeId }
  }
  return {
    async unary<Res>(target: string, Ctor: grpc.ServiceClientConstructor, method: string, request: object, call: GrpcCallOptions = {}): Promise<Res> {
      const { client, spiffeId } = clientFor(target, Ctor)
      const fn = (client as unknown as Record<string, unknown>)[method]
      if (typeof fn !== 'function') throw new TypeError(`createGrpcCaller: \`${Ctor.serviceName}\` has no method \`${method}\``)
      const metadata = new grpc.Metadata()
      if (call.subjectToken) {
        let token: string
        try {
          token = await tokens().exchange(call.subjectToken, spiffeId, call.requestId)
        } catch (error) {
          throw ServiceErrors.exchangeFailed(undefined, { cause: error })
        }
        metadata.set('authorization', `Bearer ${token}`)
      }
      if (call.requestId) metadata.set('x-request-id', call.requestId)
      const deadline = new Date(Date.now() + (call.timeoutMs ?? 10_000))
      return await new Promise<Res>((resolve, reject) => {
        (fn as (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => void)
          .call(client, request, metadata, { deadline }, (error, reply) => (error ? reject(error) : resolve(reply)))
      })
    },
    close() {
      stopRotation()
      dropClients()
    },
  }
}
