// X-Forwarded-For/-Proto/-Host are believed only when the TLS peer is the
// gateway (its SPIFFE ID), and then the request is "proxied": the gateway's
// own certificate must not stand in for the end client's (no tls_client_auth,
// no certificate binding). From anyone else the headers are removed.
import type { FastifyRequest } from 'fastify'
import { PROXIED } from '../provider/mtls.ts'

const FORWARDED = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded']

type RawWithFlag = FastifyRequest['raw'] & { [PROXIED]?: boolean }

export function applyForwardingTrust(request: FastifyRequest, gatewaySpiffeId: string): void {
  const raw = request.raw as RawWithFlag
  const fromGateway = request.peer?.spiffeId === gatewaySpiffeId
  const hasForwarded = FORWARDED.some((h) => raw.headers[h] !== undefined)
  if (fromGateway && hasForwarded) {
    raw[PROXIED] = true
    delete raw.headers.forwarded
    return
  }
  for (const header of FORWARDED) delete raw.headers[header]
}

export function isProxied(request: FastifyRequest): boolean {
  return (request.raw as RawWithFlag)[PROXIED] === true
}

/** The end client's IP: the last X-Forwarded-For hop the gateway added, else the socket peer. */
export function clientIpOf(request: FastifyRequest): string {
  const raw = request.raw as RawWithFlag
  if (raw[PROXIED]) {
    const header = raw.headers['x-forwarded-for']
    const list = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((s) => s.trim()).filter(Boolean)
    const last = list[list.length - 1]
    if (last && last.length <= 64) return last
  }
  return raw.socket.remoteAddress ?? 'unknown'
}
