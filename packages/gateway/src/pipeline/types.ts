// The shape every pipeline stage shares (oathkeeper's handlers, oidc-provider's
// middleware table): a name for metrics and audit, and one `run` that throws a
// BulwarkError to stop the request.
import type { UpstreamAnswer } from '../upstream-request.ts'
import type { Logger } from '@bulwark/core'
import type { CompiledRoute } from '../routes.ts'

/** What the stages see of the incoming request (HTTP/1.1 or HTTP/2 alike). */
export type GatewayRequest = {
  readonly method: string
  /** The checked, still-encoded path (no query). */
  readonly path: string
  readonly query: string
  readonly segments: readonly string[]
  /** Lower-case header names; HTTP/2 pseudo-headers removed. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** The TCP peer's address. */
  readonly remoteAddress: string
  /** DER of the client's TLS certificate, when it sent one. */
  readonly clientCertificate?: Buffer
  /** Filled in after the body is read (validate, proxy stages). */
  body?: Buffer
}

export type Principal = {
  kind: 'user' | 'client'
  /** `sub` of the access token. */
  subject: string
  clientId: string
  scopes: readonly string[]
  roles: readonly string[]
  claims: Readonly<Record<string, unknown>>
}

export type RequestContext = {
  readonly requestId: string
  readonly log: Logger
  route?: CompiledRoute
  params: Record<string, string>
  clientIp: string
  /** The caller's access token (never forwarded). */
  token?: string
  principal?: Principal
  /** The exchanged token for the upstream. */
  upstreamToken?: string
  /** Extra response headers set by stages (RateLimit, CORS…). */
  responseHeaders: Record<string, string>
  /** Parsed JSON body, when the route validated one. */
  json?: unknown
  /** Set by the proxy stage. */
  upstream?: UpstreamAnswer
}

export type Stage = {
  readonly name: string // appears in metrics and audit reasons
  run(req: GatewayRequest, ctx: RequestContext): Promise<void> // throws a BulwarkError to stop
}
