// Token exchange (RFC 8693) for workloads: the caller (client `svc-<name>`,
// authenticated by its SVID, RFC 8705) trades an access token it received for
// a short-lived JWT whose audience is one service it may reach. The result
// keeps `sub`, `client_id`, `scope` and `roles`, adds the caller to the `act`
// chain (RFC 8693 §4.1), lives at most `exchangeTtl` and never past the
// subject token, and is bound to the caller's certificate (`cnf.x5t#S256`).
import { errors, type KoaContextWithOIDC, type Provider } from 'oidc-provider'
import { jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import type { RevocationFeed } from '../store/revocations.ts'
import { TOKEN_EXCHANGE_GRANT } from '../store/clients.ts'
import { gatewayAudience, targetService, workloadName } from './resources.ts'

export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

/** Claims the exchanged token carries over from the subject token (`amr`/`acr`: how the user signed in, RFC 9068 §2.2.1). */
export type ExchangeExtras = { act: Record<string, unknown>; roles: unknown; amr?: unknown; acr?: unknown }

export type ExchangeOptions = {
  provider: Provider
  issuer: string
  trustDomain: string
  alg: string
  exchangeTtl: number
  exchange: Record<string, readonly string[]>
  /** The JWKS the subject token must verify against (our own, current + next + retired). */
  keys: () => JWTVerifyGetKey
  revocations: RevocationFeed
  getCertificate: (ctx: KoaContextWithOIDC) => string | undefined
  /** False for users that no longer exist or are disabled. */
  isActiveAccount: (accountId: string) => Promise<boolean>
  /** Extras the `extraTokenClaims` hook reads for the token being built. */
  extras: WeakMap<object, ExchangeExtras>
}

const PARAMS = ['subject_token', 'subject_token_type', 'audience', 'scope', 'requested_token_type', 'actor_token', 'actor_token_type', 'resource']

async function verifySubject(options: ExchangeOptions, token: unknown): Promise<JWTPayload> {
  if (typeof token !== 'string' || token.length > 8192) throw new errors.InvalidGrant('subject_token is missing or too long')
  try {
    const { payload } = await jwtVerify(token, options.keys(), { issuer: options.issuer, typ: 'at+jwt', algorithms: [options.alg], requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'] })
    return payload
  } catch {
    throw new errors.InvalidGrant('subject_token is invalid, expired or not issued here')
  }
}

export function registerTokenExchange(options: ExchangeOptions): void {
  const { provider, trustDomain } = options
  async function handler(ctx: KoaContextWithOIDC): Promise<void> {
    const client = ctx.oidc.client!
    const params = ctx.oidc.params as Record<string, unknown>
    const caller = workloadName(client.clientId)
    const reachable = caller ? options.exchange[caller] : undefined
    if (!caller || !reachable) throw new errors.UnauthorizedClient('this client may not exchange tokens')
    if (params.subject_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`)
    if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest('only access tokens can be requested')
    if (params.actor_token !== undefined) throw new errors.InvalidRequest('actor_token is not supported; the authenticated client is the actor')
    if (params.resource !== undefined) throw new errors.InvalidRequest('use audience, not resource')
    const audience = params.audience
    const target = targetService(trustDomain, audience)
    if (!target || !reachable.includes(target)) throw new errors.InvalidTarget('audience is not a service this client may reach')

    const subject = await verifySubject(options, params.subject_token)
    const callerId = `spiffe://${trustDomain}/svc/${caller}`
    const subjectAud = Array.isArray(subject.aud) ? subject.aud : [subject.aud]
    const addressedToCaller = subjectAud.includes(callerId) || (caller === 'gateway' && subjectAud.includes(gatewayAudience(trustDomain)))
    if (!addressedToCaller) throw new errors.InvalidGrant('subject_token was not issued to the calling service')
    if (await options.revocations.isRevoked(subject as { sub?: string; client_id?: string; jti?: string; iat?: number })) throw new errors.InvalidGrant('subject_token has been revoked')

    const subjectScopes = new Set(String(subject.scope ?? '').split(' ').filter(Boolean))
    let scope = [...subjectScopes].join(' ')
    if (typeof params.scope === 'string' && params.scope.length > 0) {
      const asked = params.scope.split(' ').filter(Boolean)
      if (asked.some((s) => !subjectScopes.has(s))) throw new errors.InvalidScope('requested scope exceeds the subject token\'s scope')
      scope = asked.join(' ')
    }
    const now = Math.floor(Date.now() / 1000)
    const ttl = Math.min(options.exchangeTtl, subject.exp! - now)
    if (ttl <= 0) throw new errors.InvalidGrant('subject_token is about to expire')
    const original = await provider.Client.find(String(subject.client_id))
    if (!original) throw new errors.InvalidGrant('subject_token client no longer exists')

    const isUser = subject.sub !== subject.client_id
    if (isUser && !(await options.isActiveAccount(String(subject.sub)))) throw new errors.InvalidGrant('subject_token user is disabled or gone')
    const at = new provider.AccessToken({
      ...(isUser ? { accountId: subject.sub } : {}),
      client: original,
      gty: 'token-exchange',
      scope: scope || undefined,
      expiresIn: ttl,
    } as never)
    at.resourceServer = new provider.ResourceServer(audience as string, {
      audience, scope, accessTokenTTL: ttl, accessTokenFormat: 'jwt', jwt: { sign: { alg: options.alg } },
    } as never)
    const cert = options.getCertificate(ctx)
    if (cert) at.setThumbprint('x5t', cert)
    const act: Record<string, unknown> = { sub: callerId, ...(subject.act ? { act: subject.act } : {}) }
    options.extras.set(at, { act, roles: subject.roles ?? [], amr: subject.amr, acr: subject.acr })
    ctx.oidc.entity('AccessToken', at)
    const value = await at.save()
    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: ttl,
      ...(scope ? { scope } : {}),
    }
  }
  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, handler as never, PARAMS)
}
