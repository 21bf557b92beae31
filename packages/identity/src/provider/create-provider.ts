// The oidc-provider instance: OAuth 2.1 profile (code + PKCE S256 only, no
// implicit, no password grant), RFC 9068 JWT access tokens for one audience,
// refresh rotation (reuse revokes the grant, oidc-provider's built-in), device
// flow, introspection/revocation with client auth, RFC 8705 mTLS client auth
// bound to SPIFFE IDs with certificate-bound tokens, and token exchange.
import { Provider, errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider'
import type { IdentityConfig } from '../config.ts'
import type { UserStore } from '../store/users.ts'
import { DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT } from '../store/clients.ts'
import { verifyClientSecret } from '../store/crypto.ts'
import { CSP } from '../interaction/views.ts'
import { deviceFlowPages, logoutPages, renderError } from '../interaction/provider-pages.ts'
import { certificateSubjectMatches, peerCertificatePem } from './mtls.ts'
import { OIDC_SCOPES, apiScopes, gatewayAudience, resourceServerInfo } from './resources.ts'
import type { ExchangeExtras } from './token-exchange.ts'
import type { PrivateJwk } from './keys.ts'

export type ProviderOptions = {
  issuer: string
  trustDomain: string
  config: IdentityConfig
  adapter: new (name: string) => unknown
  users: UserStore
  jwks: PrivateJwk[]
  cookieKeys: string[]
  extras: WeakMap<object, ExchangeExtras>
  /** Identity's own (internal, mTLS) URL: advertised as RFC 8705 `mtls_endpoint_aliases`. */
  internalUrl?: string
  /** The audit durability barrier of the current request (AuditSink.barrier): awaited before any answer. */
  auditBarrier?: () => Promise<void> | undefined
}

type SignIn = { amr?: unknown; acr?: unknown }

/** `amr`/`acr` of a sign-in, when it has them (absent claims stay absent). */
function signInClaims(source: SignIn | undefined): SignIn {
  const out: SignIn = {}
  if (Array.isArray(source?.amr) && source.amr.every((m) => typeof m === 'string')) out.amr = [...source.amr]
  if (typeof source?.acr === 'string') out.acr = source.acr
  return out
}

function isFirstParty(client: { metadata(): Record<string, unknown> } | undefined): boolean {
  return client?.metadata().first_party === true
}

/**
 * oidc-provider always asks native clients for consent (anyone can claim a
 * loopback redirect). Our first-party native client (`shop-cli`) is exempt;
 * every other native client still gets the consent screen.
 */
function interactionPolicyFor() {
  const policy = interactionPolicy.base()
  const consent = policy.get('consent')
  const original = consent.checks.get('native_client_prompt')
  consent.checks.remove('native_client_prompt')
  consent.checks.add(new interactionPolicy.Check('native_client_prompt', original.description, 'interaction_required',
    (ctx: KoaContextWithOIDC) => (isFirstParty(ctx.oidc.client) ? interactionPolicy.Check.NO_NEED_TO_PROMPT : original.check(ctx))), 0)
  return policy
}

export function createProvider(options: ProviderOptions): Provider {
  const { config, users, trustDomain } = options
  const alg = config.signingAlg
  const policy = { trustDomain, alg, accessTokenTtl: config.accessTokenTtlSeconds, exchange: config.exchange }

  async function findAccount(_ctx: unknown, sub: string) {
    const user = await users.byId(sub)
    if (!user || user.disabled) return undefined
    return {
      accountId: user.id,
      async claims(_use: string, scope: string) {
        const scopes = new Set(scope.split(' '))
        return {
          sub: user.id,
          roles: user.roles,
          ...(scopes.has('profile') ? { preferred_username: user.username, name: user.displayName ?? user.username } : {}),
          ...(scopes.has('email') && user.email ? { email: user.email } : {}),
        }
      },
    }
  }

  const provider = new Provider(options.issuer, {
    adapter: options.adapter,
    findAccount,
    jwks: { keys: options.jwks },
    cookies: { keys: options.cookieKeys, long: { httpOnly: true, sameSite: 'lax', signed: true }, short: { httpOnly: true, sameSite: 'lax', signed: true } },
    claims: { openid: ['sub', 'roles'], profile: ['preferred_username', 'name'], email: ['email'] },
    scopes: [...OIDC_SCOPES, ...config.apiScopes],
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'none'],
    clientDefaults: { grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: alg, token_endpoint_auth_method: 'client_secret_basic' },
    enabledJWA: { idTokenSigningAlgValues: [alg], clientAuthSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'] },
    extraClientMetadata: { properties: ['first_party'], validator(_ctx: unknown, key: string, value: unknown) {
      if (key === 'first_party' && value !== undefined && typeof value !== 'boolean') throw new errors.InvalidClientMetadata!('first_party must be a boolean')
    } },
    routes: {
      authorization: '/oauth2/authorize', token: '/oauth2/token', jwks: '/oauth2/jwks', userinfo: '/oauth2/userinfo',
      introspection: '/oauth2/introspect', revocation: '/oauth2/revoke', device_authorization: '/oauth2/device/auth',
      code_verification: '/oauth2/device', end_session: '/oauth2/logout', pushed_authorization_request: '/oauth2/par',
      backchannel_authentication: '/oauth2/backchannel', registration: '/oauth2/register', challenge: '/oauth2/challenge', credential: '/oauth2/credential',
    },
    ttl: {
      AccessToken: config.accessTokenTtlSeconds,
      ClientCredentials: config.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: config.idTokenTtlSeconds,
      DeviceCode: 600,
      Interaction: 900,
      Session: config.sessionTtlSeconds,
      Grant: config.refreshTokenTtlSeconds,
      RefreshToken: config.refreshTokenTtlSeconds,
    },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }, code: { scopes: Set<string> }) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    async extraTokenClaims(ctx: KoaContextWithOIDC, token: { kind: string; accountId?: string; gty?: string }) {
      const exchanged = options.extras.get(token)
      if (exchanged) return { act: exchanged.act, roles: exchanged.roles, ...signInClaims(exchanged) }
      if (token.kind === 'ClientCredentials') return { roles: [] }
      if (token.accountId) {
        // How the user signed in (RFC 9068 §2.2.1), from the code or refresh token this one is minted for,
        // so resource servers and Cedar (`context.mfa`) can require a second factor.
        const entities = ctx.oidc?.entities as { AuthorizationCode?: SignIn; RefreshToken?: SignIn } | undefined
        return { roles: (await users.byId(token.accountId))?.roles ?? [], ...signInClaims(entities?.AuthorizationCode ?? entities?.RefreshToken) }
      }
      return undefined
    },
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const { oidc } = ctx
      const grantId = oidc.result?.consent?.grantId ?? oidc.session!.grantIdFor(oidc.client!.clientId)
      let grant = grantId ? await provider.Grant.find(grantId) : undefined
      if (!isFirstParty(oidc.client)) return grant
      // First-party clients need no consent screen: grant what they may ask for.
      grant ??= new provider.Grant({ clientId: oidc.client!.clientId, accountId: oidc.session!.accountId })
      const allowed = new Set((oidc.client!.scope ?? '').split(' '))
      const requested = [...oidc.requestParamScopes].filter((s) => allowed.has(s))
      grant.addOIDCScope(requested.filter((s) => (OIDC_SCOPES as readonly string[]).includes(s)).join(' '))
      if (oidc.requestParamClaims.size > 0) grant.addOIDCClaims([...oidc.requestParamClaims])
      for (const indicator of Object.keys(oidc.resourceServers ?? {})) {
        grant.addResourceScope(indicator, apiScopes(requested.join(' ')).join(' '))
      }
      await grant.save()
      return grant
    },
    interactions: { policy: interactionPolicyFor(), url: async (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      registration: { enabled: false },
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: true },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        ...deviceFlowPages,
      },
      rpInitiatedLogout: {
        enabled: true,
        ...logoutPages,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string | string[]) => oneOf ?? gatewayAudience(trustDomain),
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, indicator: string, client: { clientId: string; scope?: string }) => resourceServerInfo(policy, indicator, client),
      },
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        certificateBoundAccessTokens: true,
        getCertificate: peerCertificatePem,
        certificateAuthorized: (ctx: KoaContextWithOIDC) => peerCertificatePem(ctx) !== undefined,
        certificateSubjectMatches,
      },
    },
    renderError,
    discovery: options.internalUrl ? {
      mtls_endpoint_aliases: {
        token_endpoint: `${options.internalUrl}/oauth2/token`,
        introspection_endpoint: `${options.internalUrl}/oauth2/introspect`,
        revocation_endpoint: `${options.internalUrl}/oauth2/revoke`,
      },
    } : {},
    conformIdTokenClaims: true,
  })
  // Client secrets are stored hashed: compare against the hash, never the plain value.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return verifyClientSecret(this.clientSecret, actual)
  }
  // Outermost middleware: oidc-provider answers on the raw response (Fastify's onSend never sees it), so a
  // grant, revocation or logout waits here until its audit events are durable, after every other middleware ran.
  const auditBarrier = options.auditBarrier
  if (auditBarrier) {
    provider.use(async (_koa, next) => {
      try {
        await next()
      } finally {
        const wait = auditBarrier()
        if (wait) await wait
      }
    })
  }
  // OIDC Core §11 drops offline_access unless prompt=consent; a first-party
  // client asking for it gets prompt=consent added, and the consent step is
  // then completed without a screen (interaction/routes.ts autoConsent).
  provider.use(async (koa, next) => {
    if (koa.method === 'GET' && koa.path === '/oauth2/authorize') {
      const query = koa.query as Record<string, unknown>
      const scope = typeof query.scope === 'string' ? query.scope.split(' ') : []
      if (scope.includes('offline_access') && query.prompt === undefined && typeof query.client_id === 'string') {
        const client = await provider.Client.find(query.client_id)
        if (client && isFirstParty(client as never)) koa.query = { ...query, prompt: 'consent' }
      }
    }
    await next()
  })
  provider.proxy = true
  provider.maxIpsCount = 1
  provider.use(async (ctx, next) => {
    await next()
    if (typeof ctx.type === 'string' && ctx.type.includes('html')) ctx.set('Content-Security-Policy', CSP)
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set('Referrer-Policy', 'no-referrer')
  })
  return provider
}

export const GRANT_TYPES = { TOKEN_EXCHANGE_GRANT, DEVICE_CODE_GRANT }
