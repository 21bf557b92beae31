// RFC 8705 glue: the client certificate oidc-provider sees is the TLS peer's,
// except on traffic the gateway proxied (its own SVID is not the client's);
// tls_client_auth matches the certificate's SPIFFE ID exactly.
import { X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import type { KoaContextWithOIDC } from 'oidc-provider'
import { spiffeIdOfCertificate } from '@bulwark/core'

/** Set on the raw request by the HTTP layer when the gateway proxied it (its own cert is not the client's). */
export const PROXIED = Symbol.for('bulwark.identity.proxied')

type PeerCert = { pem: string; spiffeId: string | undefined }
// A TLS 1.3 connection keeps its client certificate: parse it once per connection, not per check.
const perSocket = new WeakMap<TLSSocket, PeerCert | null>()

function peerCert(ctx: KoaContextWithOIDC): PeerCert | undefined {
  const req = ctx.req as typeof ctx.req & { [PROXIED]?: boolean }
  if (req[PROXIED]) return undefined
  const socket = req.socket as TLSSocket
  if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) return undefined
  let cached = perSocket.get(socket)
  if (cached === undefined) {
    const raw = socket.getPeerCertificate()?.raw
    const x509 = raw ? new X509Certificate(raw) : undefined
    cached = x509 ? { pem: x509.toString(), spiffeId: spiffeIdOfCertificate(x509) } : null
    perSocket.set(socket, cached)
  }
  return cached ?? undefined
}

export function peerCertificatePem(ctx: KoaContextWithOIDC): string | undefined {
  return peerCert(ctx)?.pem
}

export function certificateSubjectMatches(ctx: KoaContextWithOIDC, property: string, expected: string): boolean {
  if (property !== 'tls_client_auth_san_uri') return false
  const spiffeId = peerCert(ctx)?.spiffeId
  return spiffeId !== undefined && spiffeId === expected
}
