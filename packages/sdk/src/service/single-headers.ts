// Request headers that must appear at most once. Node folds repeats in
// `req.headers` without a word (it keeps the first Authorization/Host, joins
// X-Request-Id with ", " and Cookie with "; "), so a request carrying a valid
// token and a second, different one is served as if the second did not exist,
// while a proxy or server behind may pick the other: an ambiguity an attacker
// can steer (RFC 9110 §5.3: only list-valued fields may repeat). Only
// `req.rawHeaders` shows the repeat. Refused on both HTTP versions:
// Authorization, Host, Content-Length, Transfer-Encoding, X-Request-Id.
// Cookie only on HTTP/1.1 (RFC 6265 §5.4: one Cookie header); HTTP/2 splits
// cookies across fields on purpose (RFC 9113 §8.2.3). On HTTP/2 a `host`
// field next to `:authority` is allowed when both name the same authority and
// refused when they differ (RFC 9113 §8.3.1: such a request is malformed).
// The scan is one pass, compares names without lower-casing them and
// allocates nothing unless a repeat is found: it runs on every request.

const AUTHORIZATION = 1
const HOST = 2
const CONTENT_LENGTH = 4
const TRANSFER_ENCODING = 8
const COOKIE = 16
const REQUEST_ID = 32
const AUTHORITY = 64

const NAMES: Record<number, string> = {
  [AUTHORIZATION]: 'authorization', [HOST]: 'host', [CONTENT_LENGTH]: 'content-length', [TRANSFER_ENCODING]: 'transfer-encoding',
  [COOKIE]: 'cookie', [REQUEST_ID]: 'x-request-id', [AUTHORITY]: ':authority',
}

/** ASCII case-insensitive `name === lower` for a `lower` of the same length (header names are tokens: no byte maps onto a letter but its own case). */
function sameName(name: string, lower: string): boolean {
  if (name === lower) return true
  for (let i = 0; i < lower.length; i++) {
    const c = name.charCodeAt(i)
    if (c !== lower.charCodeAt(i) && (c | 0x20) !== lower.charCodeAt(i)) return false
  }
  return true
}

/** The flag of a header that must appear once, or 0. `http2`: Cookie may repeat, `:authority` counts. */
function singleHeaderFlag(name: string, http2: boolean): number {
  switch (name.length) {
    case 4: return sameName(name, 'host') ? HOST : 0
    case 6: return !http2 && sameName(name, 'cookie') ? COOKIE : 0
    case 10: return http2 && name === ':authority' ? AUTHORITY : 0
    case 12: return sameName(name, 'x-request-id') ? REQUEST_ID : 0
    case 13: return sameName(name, 'authorization') ? AUTHORIZATION : 0
    case 14: return sameName(name, 'content-length') ? CONTENT_LENGTH : 0
    case 17: return sameName(name, 'transfer-encoding') ? TRANSFER_ENCODING : 0
    default: return 0
  }
}

/** RFC 9113 §8.3.1 with RFC 3986 §6.2.3 normalization for https: case-insensitive, the default port implied. */
export function sameAuthority(a: string, b: string): boolean {
  const norm = (value: string) => value.toLowerCase().replace(/:443$/, '')
  return norm(a) === norm(b)
}

/**
 * One pass over `rawHeaders` (Node's flat `[name, value, …]` list): the
 * lower-case name of the first header that must appear once and appears more
 * than once (a string), or else the size of the header list in bytes (each
 * name and value plus 2, a number) for the caller's size limit.
 */
export function scanHeaders(rawHeaders: readonly string[], http2: boolean): string | number {
  let seen = 0
  let size = 0
  let host = -1
  let authority = -1
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    size += name.length + rawHeaders[i + 1]!.length + 4
    const flag = singleHeaderFlag(name, http2)
    if (flag === 0) continue
    if (seen & flag) return NAMES[flag]!
    seen |= flag
    if (flag === HOST) host = i + 1
    else if (flag === AUTHORITY) authority = i + 1
  }
  if (host >= 0 && authority >= 0 && !sameAuthority(rawHeaders[host]!, rawHeaders[authority]!)) return 'host'
  return size
}

/** The repeated single header of a request, in lower case, or undefined (see scanHeaders). */
export function findRepeatedHeader(rawHeaders: readonly string[], http2: boolean): string | undefined {
  const scan = scanHeaders(rawHeaders, http2)
  return typeof scan === 'string' ? scan : undefined
}
