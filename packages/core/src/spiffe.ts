// SPIFFE IDs (spiffe://<trust-domain>/<path>) as carried in an X.509 URI SAN.
// A workload's identity is its SVID's single URI SAN, never its hostname.
import type { PeerCertificate } from 'node:tls'
import type { X509Certificate } from 'node:crypto'

export const DEFAULT_TRUST_DOMAIN = 'bulwark.local'

const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/

export type SpiffeId = { trustDomain: string; path: string; toString(): string }

/** Parses and validates a SPIFFE ID; returns undefined when it is not one. */
export function parseSpiffeId(value: string): SpiffeId | undefined {
  if (typeof value !== 'string' || value.length > 2048 || !value.startsWith('spiffe://')) return undefined
  const rest = value.slice('spiffe://'.length)
  const slash = rest.indexOf('/')
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash)
  const path = slash === -1 ? '' : rest.slice(slash)
  if (!TRUST_DOMAIN.test(trustDomain)) return undefined
  if (path !== '') {
    const segments = path.slice(1).split('/')
    if (segments.some((s) => !PATH_SEGMENT.test(s) || s === '.' || s === '..')) return undefined
  }
  return { trustDomain, path, toString: () => value }
}

/** `spiffe://<td>/svc/<name>`: the identity of a component or service. */
export function serviceSpiffeId(trustDomain: string, name: string): string {
  return `spiffe://${trustDomain}/svc/${name}`
}

/** `spiffe://<td>/operator/<name>`: an operator certificate for the CLI. */
export function operatorSpiffeId(trustDomain: string, name = 'admin'): string {
  return `spiffe://${trustDomain}/operator/${name}`
}

/** The service name of `spiffe://td/svc/<name>`, if it is one. */
export function serviceNameOf(spiffeId: string): string | undefined {
  const parsed = parseSpiffeId(spiffeId)
  const match = parsed && /^\/svc\/([A-Za-z0-9._-]+)$/.exec(parsed.path)
  return match ? match[1] : undefined
}

/** URI SANs of a certificate, from Node's `subjectaltname` text form. */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return []
  // Node renders names as `URI:x, DNS:y`; quoted forms appear when a name holds a comma.
  const out: string[] = []
  for (const match of subjectAltName.matchAll(/URI:("(?:[^"\\]|\\.)*"|[^,]+)/g)) {
    const raw = match[1]!.trim()
    out.push(raw.startsWith('"') ? JSON.parse(raw) as string : raw)
  }
  return out
}

/**
 * The SPIFFE ID of a certificate: exactly one URI SAN that parses as a SPIFFE ID.
 * Anything else (none, several, malformed) is no identity at all.
 */
export function spiffeIdOfCertificate(cert: PeerCertificate | X509Certificate | undefined): string | undefined {
  if (!cert) return undefined
  const san = 'subjectaltname' in cert ? cert.subjectaltname : (cert as X509Certificate).subjectAltName
  const uris = uriSans(san)
  if (uris.length !== 1) return undefined
  return parseSpiffeId(uris[0]!) ? uris[0] : undefined
}
