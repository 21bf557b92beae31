// Authenticate: a bearer JWT access token (RFC 6750 §2.1) verified locally with
// jose against the issuer's JWKS. RFC 9068 profile: `typ` at+jwt (§4), iss and
// aud exact, exp/nbf with a small skew, sub and client_id present; RFC 8725
// §3.1/§3.10: algorithms pinned, no `none`/HMAC, key-carrying headers (jku,
// x5u, jwk, x5c) refused, kid must look like a kid. Verified tokens are cached
// (bounded); revocations apply on every request; RFC 8705 §3: a token bound to
// a certificate (`cnf.x5t#S256`) needs that certificate on the connection.
import { createHash } from 'node:crypto'
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose'
import type { Clock } from '@bulwark/core'
import { GatewayErrors } from '../errors.ts'
import { KeysUnavailableError, type KeySet } from '@bulwark/sdk/service'
import type { RevocationList } from '../feeds/revocations.ts'
import type { GatewayRequest, Principal, Stage } from './types.ts'

export type AuthenticateOptions = {
  keys: KeySet
  issuer: string
  audiences: readonly string[]
  algorithms: readonly string[]
  clockSkewSeconds: number
  maxTokenBytes: number
  cacheSize: number
  clock: Clock
  revocations?: RevocationList
}

type Cached = { principal: Principal; expiresAt: number }

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
const KID = /^[A-Za-z0-9._-]{1,128}$/
const REFUSED_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'x5t', 'crit', 'b64', 'zip', 'enc']
const CHALLENGE = { 'www-authenticate': 'Bearer realm="bulwark"' }
const INVALID_CHALLENGE = { 'www-authenticate': 'Bearer realm="bulwark", error="invalid_token"' }

/** The bearer token of a request, or undefined; throws on a malformed Authorization header. */
export function bearerToken(req: GatewayRequest, maxBytes: number): string | undefined {
  const header = req.headers.authorization
  if (header === undefined) return undefined
  if (Array.isArray(header)) throw GatewayErrors.tokenMalformed('more than one Authorization header', { headers: INVALID_CHALLENGE })
  if (header.length > maxBytes + 7) throw GatewayErrors.tokenTooLarge(`access token longer than ${maxBytes} bytes`, { headers: INVALID_CHALLENGE })
  const match = /^Bearer +(\S+)\s*$/i.exec(header)
  if (!match) throw GatewayErrors.tokenMalformed('Authorization header is not `Bearer <token>`', { headers: INVALID_CHALLENGE })
  return match[1]
}

function errorFor(error: unknown): Error {
  if (error instanceof KeysUnavailableError) return GatewayErrors.keysUnavailable()
  const e = error as { code?: string; claim?: string; message?: string }
  const opts = { headers: INVALID_CHALLENGE }
  switch (e.code) {
    case 'ERR_JWT_EXPIRED': return GatewayErrors.tokenExpired(undefined, opts)
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return GatewayErrors.tokenAlgorithm(undefined, opts)
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return GatewayErrors.tokenInvalid('access token signature does not verify', opts)
    case 'ERR_JWKS_NO_MATCHING_KEY': return GatewayErrors.tokenInvalid('access token signed by an unknown key', opts)
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'nbf') return GatewayErrors.tokenNotYetValid(undefined, opts)
      if (e.claim === 'typ') return GatewayErrors.tokenType(undefined, opts)
      return GatewayErrors.tokenClaims(`access token claim \`${e.claim ?? '?'}\` is not acceptable`, opts)
    default: return GatewayErrors.tokenInvalid(undefined, opts)
  }
}

function principalOf(claims: JWTPayload): Principal {
  const clientId = String(claims.client_id)
  const scope = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : []
  const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : []
  return { kind: claims.sub === clientId ? 'client' : 'user', subject: String(claims.sub), clientId, scopes: scope, roles, claims }
}

function checkBinding(req: GatewayRequest, principal: Principal): void {
  const cnf = principal.claims.cnf as Record<string, unknown> | undefined
  const thumbprint = cnf?.['x5t#S256']
  if (thumbprint === undefined) return
  const presented = req.clientCertificate ? createHash('sha256').update(req.clientCertificate).digest('base64url') : undefined
  if (presented !== thumbprint) throw GatewayErrors.tokenCertBinding(undefined, { headers: INVALID_CHALLENGE })
}

export function createAuthenticateStage(options: AuthenticateOptions): Stage & { hasKnownToken(req: GatewayRequest): boolean } {
  const cache = new Map<string, Cached>()
  const skewMs = options.clockSkewSeconds * 1000
  const algorithms = [...options.algorithms]
  const algorithmSet = new Set(algorithms)

  async function verify(token: string): Promise<Cached> {
    if (!COMPACT_JWS.test(token)) throw GatewayErrors.tokenMalformed('access token is not a compact JWS', { headers: INVALID_CHALLENGE })
    let header: Record<string, unknown>
    try {
      header = decodeProtectedHeader(token) as Record<string, unknown>
    } catch {
      throw GatewayErrors.tokenMalformed('access token header is not valid', { headers: INVALID_CHALLENGE })
    }
    const refused = REFUSED_HEADERS.find((name) => name in header)
    if (refused) throw GatewayErrors.tokenHeaderRefused(`access token header \`${refused}\` is not allowed`, { headers: INVALID_CHALLENGE })
    if (typeof header.alg !== 'string' || !algorithmSet.has(header.alg)) throw GatewayErrors.tokenAlgorithm(undefined, { headers: INVALID_CHALLENGE })
    if (typeof header.kid !== 'string' || !KID.test(header.kid)) throw GatewayErrors.tokenHeaderRefused('access token `kid` is missing or malformed', { headers: INVALID_CHALLENGE })
    const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : ''
    if (typ !== 'at+jwt' && typ !== 'application/at+jwt') throw GatewayErrors.tokenType(undefined, { headers: INVALID_CHALLENGE })
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, options.keys.getKey, {
        issuer: options.issuer, audience: [...options.audiences], algorithms, typ: 'at+jwt',
        clockTolerance: options.clockSkewSeconds, currentDate: new Date(options.clock.now()),
        requiredClaims: ['exp', 'iat', 'sub', 'client_id'],
      }))
    } catch (error) {
      throw errorFor(error)
    }
    if (typeof payload.client_id !== 'string' || typeof payload.sub !== 'string') throw GatewayErrors.tokenClaims('access token `sub`/`client_id` must be strings', { headers: INVALID_CHALLENGE })
    return { principal: principalOf(payload), expiresAt: payload.exp! * 1000 }
  }

  function lookup(token: string): Cached | undefined {
    const hit = cache.get(token)
    if (hit && options.clock.now() > hit.expiresAt + skewMs) {
      cache.delete(token)
      return undefined
    }
    return hit
  }

  return {
    name: 'authenticate',
    hasKnownToken(req) {
      const header = req.headers.authorization
      if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false
      return lookup(header.slice(7).trim()) !== undefined
    },
    async run(req, ctx) {
      if (ctx.route?.public) return
      if (ctx.route?.optionalAuth && req.headers.authorization === undefined) return
      const token = bearerToken(req, options.maxTokenBytes)
      if (!token) throw GatewayErrors.tokenMissing(undefined, { headers: CHALLENGE })
      let entry = lookup(token)
      if (!entry) {
        entry = await verify(token)
        if (options.cacheSize > 0) {
          if (cache.size >= options.cacheSize) cache.delete(cache.keys().next().value!)
          cache.set(token, entry)
        }
      }
      if (options.revocations?.isRevoked(entry.principal.claims)) throw GatewayErrors.tokenRevoked(undefined, { headers: INVALID_CHALLENGE })
      checkBinding(req, entry.principal)
      ctx.token = token
      ctx.principal = entry.principal
    },
  }
}
