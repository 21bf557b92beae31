// Which headers cross the sidecar, in each direction.
// - Hop-by-hop fields (RFC 9110 §7.6.1) belong to one connection and are never
//   forwarded: Connection and every field it names, Keep-Alive,
//   Proxy-Connection, TE, Transfer-Encoding, Upgrade, and the proxy auth fields.
//   Host is set for the next hop by the client; HTTP/2 pseudo-headers never pass.
// - Identity headers are the sidecar's word to the app: any `X-Bulwark-*` or
//   `X-Request-Id` a caller sent is dropped (case-insensitive, every copy)
//   before the verified ones are set, so the app can trust what it reads.
// - Authorization never passes as sent: the app gets the internal token the
//   sidecar verified (inbound), a target gets an exchanged one (egress).
import type { AuthContext } from '@bulwark/sdk/service'

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'trailer',
  'proxy-authorization', 'proxy-authenticate', 'host', 'http2-settings',
])

/** The lower-case field names a Connection header lists (RFC 9110 §7.6.1: also hop-by-hop). */
function connectionOptions(rawHeaders: readonly string[]): Set<string> | undefined {
  let named: Set<string> | undefined
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'connection') continue
    for (const token of rawHeaders[i + 1]!.split(',')) {
      const name = token.trim().toLowerCase()
      if (name) (named ??= new Set()).add(name)
    }
  }
  return named
}

function isIdentityHeader(lower: string): boolean {
  return lower.startsWith('x-bulwark-') || lower === 'x-request-id'
}

export type HeaderList = string[]

/**
 * Copies `rawHeaders` (Node's flat `[name, value, …]`) minus hop-by-hop
 * fields, identity headers, Authorization and anything in `drop`, and returns
 * a flat list undici accepts as-is (repeats kept, order kept).
 */
export function passableHeaders(rawHeaders: readonly string[], drop?: ReadonlySet<string>): HeaderList {
  const named = connectionOptions(rawHeaders)
  const out: HeaderList = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.charCodeAt(0) === 58) continue // `:authority` and the other HTTP/2 pseudo-headers
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.has(lower) || lower === 'authorization' || isIdentityHeader(lower)) continue
    if (named?.has(lower) || drop?.has(lower)) continue
    out.push(name, rawHeaders[i + 1]!)
  }
  return out
}

// Roles, scopes and ids from a verified token, made safe for one header line:
// visible ASCII only, no separators inside an item.
const ITEM = /^[\x21-\x2b\x2d-\x7e]{1,256}$/

function items(values: readonly string[]): string {
  return values.filter((v) => ITEM.test(v)).join(',')
}

/** Field value of a single id (subject, client id), or undefined when it cannot travel in a header. */
function single(value: string | undefined): string | undefined {
  return value !== undefined && /^[\x20-\x7e]{1,512}$/.test(value) ? value : undefined
}

/**
 * The identity headers the app reads: set only from what the sidecar verified.
 * An anonymous request (a route with `auth: optional` and no token) carries
 * only `X-Bulwark-Caller` and `X-Request-Id`.
 */
export function identityHeaders(out: HeaderList, auth: AuthContext | undefined, caller: string, requestId: string, token: string | undefined): void {
  if (auth?.authenticated) {
    const sub = single(auth.sub)
    if (sub) out.push('x-bulwark-subject', sub)
    const client = single(auth.clientId)
    if (client) out.push('x-bulwark-client', client)
    out.push('x-bulwark-roles', items(auth.roles))
    // Space-separated, as in an OAuth `scope` (RFC 6749 §3.3).
    out.push('x-bulwark-scopes', auth.scopes.filter((s) => ITEM.test(s)).join(' '))
  }
  out.push('x-bulwark-caller', caller, 'x-request-id', requestId)
  if (token) out.push('authorization', `Bearer ${token}`)
}

/** An answer's headers (undici's record form) without hop-by-hop fields and without the app's X-Request-Id. */
export function answerHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const named = new Set<string>()
  const connection = headers.connection
  for (const value of [connection ?? []].flat()) for (const token of value.split(',')) if (token.trim()) named.add(token.trim().toLowerCase())
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || name === 'x-request-id') continue
    out[name] = value
  }
  return out
}
