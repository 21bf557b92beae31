// Verifies the internal access token every request carries (RFC 9068 JWT
// profile): signature against identity's JWKS, `typ` at+jwt (§2.1, §4),
// `iss` = the platform issuer, `aud` exactly this service's SPIFFE ID (§4:
// a token for another service is refused), `exp`/`nbf`, then the revocation
// feed. The `act` chain's newest actor must be the mTLS peer (RFC 8693 §4.1),
// so a token lifted from one workload cannot be replayed by another.
// Verified tokens are cached (bounded, until they expire) as the gateway does:
// the signature is checked once per token, while the `act`/peer check, the
// revocation feed and the expiry apply on every use.
import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { KeysUnavailableError } from './key-set.ts'
import { serviceNameOf, type Clock } from '@bulwark/core'
import { ServiceErrors } from './errors.ts'
import type { RevocationFeed } from './revocation-feed.ts'
import type { ActorChain, AuthContext } from './types.ts'

export type TokenVerifierOptions = {
  keys: JWTVerifyGetKey
  issuer: string
  /** This service's SPIFFE ID. */
  audience: string
  clock: Clock
  revocations?: RevocationFeed
  algorithms?: string[]
  clockToleranceSeconds?: number
  /** Verified tokens kept until they expire (default 1000; 0: verify every time). */
  cacheSize?: number
}

export type TokenVerifier = (token: string, peerSpiffeId: string | undefined) => Promise<AuthContext>

// RFC 8176 method values that are a second factor, and identity's MFA `acr`.
const MFA_METHODS = new Set(['mfa', 'otp', 'totp', 'hwk', 'swk', 'sms', 'webauthn'])
const MFA_ACR = 'urn:bulwark:mfa'

function stringList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string')
  if (typeof value === 'string') return value.split(' ').filter(Boolean)
  return []
}

function actorChain(value: unknown, depth = 0): ActorChain | undefined {
  if (depth > 8 || typeof value !== 'object' || value === null) return undefined
  const sub = (value as { sub?: unknown }).sub
  if (typeof sub !== 'string') return undefined
  const inner = actorChain((value as { act?: unknown }).act, depth + 1)
  return inner ? { sub, act: inner } : { sub }
}

/** The actor names a workload: its SPIFFE ID, or its workload client `svc-<name>`. */
function actorIsPeer(actor: string, peer: string): boolean {
  if (actor === peer) return true
  const name = serviceNameOf(peer)
  return name !== undefined && actor === `svc-${name}`
}

function mapJoseError(error: unknown): Error {
  if (error instanceof joseErrors.JWTExpired) return ServiceErrors.tokenExpired()
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return ServiceErrors.tokenAudience()
    if (error.claim === 'typ') return ServiceErrors.tokenType()
    return ServiceErrors.tokenInvalid(`access token claim \`${error.claim}\` is not acceptable`)
  }
  if (error instanceof KeysUnavailableError || error instanceof joseErrors.JWKSTimeout) {
    return ServiceErrors.keysUnavailable(undefined, { cause: error })
  }
  return ServiceErrors.tokenInvalid(undefined, { cause: error })
}

type Verified = { auth: AuthContext; iat: number | undefined }

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const algorithms = options.algorithms ?? ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA']
  const toleranceMs = (options.clockToleranceSeconds ?? 5) * 1000
  const cacheSize = options.cacheSize ?? 1000
  const cache = new Map<string, Verified>()

  async function verifySigned(token: string): Promise<Verified> {
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, options.keys, {
        issuer: options.issuer,
        audience: options.audience,
        typ: 'at+jwt',
        algorithms,
        currentDate: new Date(options.clock.now()),
        clockTolerance: options.clockToleranceSeconds ?? 5,
        requiredClaims: ['exp', 'iat', 'sub'],
      }))
    } catch (error) {
      throw mapJoseError(error)
    }
    const aud = payload.aud
    if (!(aud === options.audience || (Array.isArray(aud) && aud.length === 1 && aud[0] === options.audience))) {
      throw ServiceErrors.tokenAudience()
    }
    const act = actorChain(payload.act)
    if (payload.act !== undefined && !act) throw ServiceErrors.tokenInvalid('access token `act` claim is malformed')
    const sub = payload.sub!
    const clientId = typeof payload.client_id === 'string' ? payload.client_id : undefined
    const isClient = clientId !== undefined && sub === clientId
    const roles = stringList(payload.roles)
    const callerService = act ? (serviceNameOf(act.sub) ?? (act.sub.startsWith('svc-') ? act.sub.slice(4) : undefined)) : undefined
    const auth: AuthContext = {
      authenticated: true,
      sub,
      clientId,
      roles,
      scopes: stringList(payload.scope),
      mfa: stringList(payload.amr).some((m) => MFA_METHODS.has(m)) || payload.acr === MFA_ACR,
      act,
      callerService,
      principal: { type: isClient ? 'Client' : 'User', id: sub },
      jti: payload.jti,
      expiresAt: payload.exp! * 1000,
    }
    return { auth: Object.freeze(auth) as AuthContext, iat: payload.iat }
  }

  return async (token, peerSpiffeId) => {
    let verified = cache.get(token)
    if (verified && options.clock.now() > verified.auth.expiresAt! + toleranceMs) {
      cache.delete(token)
      verified = undefined // verified again below, which names the expiry
    }
    if (!verified) {
      verified = await verifySigned(token)
      if (cacheSize > 0) {
        if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!)
        cache.set(token, verified)
      }
    }
    const { auth, iat } = verified
    if (auth.act && (!peerSpiffeId || !actorIsPeer(auth.act.sub, peerSpiffeId))) throw ServiceErrors.tokenActor()
    options.revocations?.check({ sub: auth.sub, clientId: auth.clientId, jti: auth.jti, iat })
    return auth
  }
}
