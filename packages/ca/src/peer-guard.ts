// The CA listener requests a client certificate but does not require one at
// the TLS layer, because `POST /v1/svid/join` is for workloads that have none
// yet (and so is attestation). Every other route passes this guard first: a chain verified against our
// root, exactly one SPIFFE ID in our trust domain, not expired, not revoked,
// not quarantined. Anything else is a 401 and an audit event.
import type { TLSSocket } from 'node:tls'
import type { FastifyRequest } from 'fastify'
import { checkPeerCertificate, parseSpiffeId, spiffeIdOfCertificate } from '@bulwark/core'
import { CaErrors } from './errors.ts'
import { auditFor, type RouteContext } from './context.ts'
import { ATTEST_ROUTE } from './routes/attest.ts'

export const JOIN_ROUTE = '/v1/svid/join'
/** Attestation, like join, is for workloads without a certificate yet (routes/attest.ts). */
const UNAUTHENTICATED_ROUTES = new Set([JOIN_ROUTE, ATTEST_ROUTE])

/** Why this request's TLS peer is not acceptable, or undefined when it is. */
export function peerRejection(request: FastifyRequest, ctx: RouteContext): string | undefined {
  const socket = request.raw.socket as TLSSocket
  if (typeof socket.getPeerCertificate !== 'function') return 'not a TLS connection'
  const presented = socket.getPeerCertificate()
  if (!presented || !presented.raw) return 'no client certificate presented'
  if (!socket.authorized) {
    const error = socket.authorizationError
    return `client certificate not verified: ${error ? String(error) : 'none presented'}`
  }
  const cert = socket.getPeerCertificate()
  const reason = checkPeerCertificate(cert, {
    isRevokedSerial: (serial) => ctx.authority.isRevoked(serial),
    isBlockedSpiffeId: (id) => ctx.authority.isQuarantined(id),
  })
  if (reason) return reason
  // Handshakes check validity once; a kept-alive connection can outlive its certificate.
  if (Date.parse(cert.valid_to) <= ctx.clock.now()) return 'client certificate has expired'
  if (parseSpiffeId(spiffeIdOfCertificate(cert)!)?.trustDomain !== ctx.config.trustDomain) return 'client certificate is from another trust domain'
  return undefined
}

export function createPeerGuard(ctx: RouteContext) {
  return async function peerGuard(request: FastifyRequest): Promise<void> {
    if (request.method === 'POST' && UNAUTHENTICATED_ROUTES.has(request.routeOptions.url ?? '')) return
    // A revocation or quarantine made at another CA replica counts from the next request.
    await ctx.authority.sync()
    const reason = peerRejection(request, ctx)
    if (reason === undefined) return
    request.peer = undefined
    auditFor(ctx, request, { type: 'peer.rejected', action: 'ca.call', outcome: 'denied', reason: CaErrors.peerRejected.code, details: { why: reason.slice(0, 200) } })
    request.log.warn({ reason }, 'ca: caller refused')
    throw CaErrors.peerRejected(`client certificate refused: ${reason}`)
  }
}
