// RFC 8705 glue: the client certificate oidc-provider sees is the TLS peer's,
// except on traffic the gateway proxied (its own SVID is not the client's);
// tls_client_auth matches the certificate's SPIFFE ID exactly.
import { X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import type { KoaContextWithOIDC } from 'oidc-provider'
import { spiffeIdOfCertificate } from '@bulwark/core'

/** Set on the raw request by the HTTP layer when the gateway proxied it (its own cert is not the client's). */
export const PROXIED = Symbol.for('bulwark.identity.proxied')

export function peerCertificatePem(ctx: KoaContextWithOIDC): string | undefined {
  const req = ctx.req as typeof ctx.req & { [PROXIED]?: boolean }
  if (req[PROXIED]) return undefined
  const socket = req.socket as TLSSocket
  if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) return undefined
  const cert = socket.getPeerCertificate()
  if (!cert?.raw) return undefined
  return new X509Certificate(cert.raw).toString()
}

export function certificateSubjectMatches(ctx: KoaContextWithOIDC, property: string, expected: string): boolean {
  if (property !== 'tls_client_auth_san_uri') return false
  const pem = peerCertificatePem(ctx)
  return pem !== undefined && spiffeIdOfCertificate(new X509Certificate(pem)) === expected
}
