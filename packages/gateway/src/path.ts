// Request-target checks before any routing. Anything a proxy and an upstream
// could read differently is refused rather than normalised (RFC 3986 §6
// normalisation is where path-confusion attacks live): dot segments, encoded
// dots/slashes/backslashes, double encoding, empty segments, control bytes.
import { GatewayErrors } from './errors.ts'

export type RequestTarget = { path: string; query: string; segments: string[] }

const PCHAR = /^[A-Za-z0-9._~!$&'()*+,;=:@%-]*$/
const QUERY = /^[A-Za-z0-9._~!$&'()*+,;=:@%/?[\]{}|^-]*$/
const ESCAPE = /%(?![0-9A-Fa-f]{2})/
// Encoded `/`, `\`, `.`, `%` (double encoding) and NUL/control bytes.
const DANGEROUS_ESCAPE = /%(2f|5c|2e|25|0[0-9a-f]|1[0-9a-f]|7f)/i

/** Splits and checks a request target; throws a 400/414 BulwarkError. */
export function parseRequestTarget(url: string, maxLength: number): RequestTarget {
  if (url.length > maxLength) throw GatewayErrors.uriTooLong(`request target longer than ${maxLength} characters`)
  if (!url.startsWith('/')) throw GatewayErrors.pathRefused('request target must be an absolute path')
  const mark = url.indexOf('?')
  const path = mark === -1 ? url : url.slice(0, mark)
  const query = mark === -1 ? '' : url.slice(mark + 1)
  if (url.includes('#')) throw GatewayErrors.pathRefused('request target carries a fragment')
  if (!QUERY.test(query) || ESCAPE.test(query)) throw GatewayErrors.pathRefused('query string has characters outside RFC 3986')
  if (path.length === 1) return { path, query, segments: [] }
  const segments = path.slice(1).split('/')
  for (const [index, segment] of segments.entries()) {
    if (segment === '' && index !== segments.length - 1) throw GatewayErrors.pathRefused('empty path segment (`//`)')
    if (segment === '.' || segment === '..') throw GatewayErrors.pathRefused('dot segment in path')
    if (!PCHAR.test(segment) || ESCAPE.test(segment)) throw GatewayErrors.pathRefused('path has characters outside RFC 3986')
    if (DANGEROUS_ESCAPE.test(segment)) throw GatewayErrors.pathRefused('path has an encoded dot, slash, percent or control byte')
  }
  if (segments[segments.length - 1] === '') segments.pop()
  return { path, query, segments }
}

/** True when a path would reach an upstream's internal API. */
export function isInternalPath(path: string): boolean {
  return /^\/internal(\/|$)/i.test(path)
}
