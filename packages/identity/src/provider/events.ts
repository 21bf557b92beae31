// Wires oidc-provider to our audit trail and revocation feed:
// - every grant (issue, refresh, exchange), grant error, refresh-token reuse,
//   code replay, revocation and logout becomes an audit event;
// - JWT access tokens are stateless, so introspection (RFC 7662) and
//   revocation (RFC 7009) of them are completed here after oidc-provider has
//   authenticated the client: verified with our own keys (jose), revoked by
//   publishing their `jti` to the feed;
// - JWTs issued under a grant are remembered (jti only) so revoking the
//   grant (reuse, code replay, logout) publishes them too.
// oidc-provider's events are synchronous; the store is not. What a listener
// writes is tracked on the request and awaited before the answer leaves, so a
// revocation is in the feed (at every replica) by the time the client hears
// of it.
import { Provider, type KoaContextWithOIDC } from 'oidc-provider'
import { jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import type { AuditActor, SqlStore } from '@bulwark/core'
import type { IdentityContext } from '../context.ts'
import { emit } from '../context.ts'

export type EventWiring = {
  db: SqlStore
  hash: (v: string) => string
  keys: () => JWTVerifyGetKey
}

function clientActor(koa: KoaContextWithOIDC): AuditActor {
  const client = koa.oidc?.client
  const accountId = koa.oidc?.entities?.Account?.accountId as string | undefined
  return accountId
    ? { kind: 'user', id: accountId, ...(client ? { clientId: client.clientId } : {}), ip: koa.ip }
    : { kind: client ? 'client' : 'anonymous', ...(client ? { id: client.clientId, clientId: client.clientId } : {}), ip: koa.ip }
}

/** The request id identity answered with (set before oidc-provider runs): ties a grant's event to its response. */
function requestOf(koa: KoaContextWithOIDC): { requestId?: string } {
  const id = koa.res.getHeader('x-request-id')
  return typeof id === 'string' ? { requestId: id } : {}
}

const GRANT_EVENT: Record<string, string> = {
  refresh_token: 'token.refreshed',
  'urn:ietf:params:oauth:grant-type:token-exchange': 'token.exchanged',
}

export function wireProvider(provider: Provider, ctx: IdentityContext, wiring: EventWiring): void {
  const { db, hash } = wiring
  const pending = new WeakMap<object, Array<Promise<void>>>()
  /** Runs store work for a listener: awaited before the current request answers (logged if it fails). */
  function track(work: () => Promise<void>): void {
    const promise = work().catch((error: unknown) => ctx.log.error({ err: error }, 'identity event bookkeeping failed'))
    const koa = Provider.ctx as object | undefined
    if (!koa) return
    const list = pending.get(koa) ?? []
    list.push(promise)
    pending.set(koa, list)
  }
  provider.use(async (koa, next) => {
    try {
      await next()
    } finally {
      // Listeners may add work while earlier work runs (a revocation publishing jtis): drain until none is left.
      for (let list = pending.get(koa); list && list.length > 0; list = pending.get(koa)) {
        pending.set(koa, [])
        await Promise.all(list)
      }
    }
  })

  async function verifyOwnJwt(token: unknown): Promise<JWTPayload | undefined> {
    if (typeof token !== 'string' || token.length > 8192 || token.split('.').length !== 3) return undefined
    try {
      const { payload } = await jwtVerify(token, wiring.keys(), { issuer: ctx.issuer, typ: 'at+jwt', algorithms: [ctx.config.signingAlg] })
      return payload
    } catch {
      return undefined
    }
  }

  provider.on('access_token.issued', (token: { grantId?: string; jti: string; exp?: number; iat?: number; expiration?: number }) => {
    if (!token.grantId) return
    const exp = token.exp ?? Math.floor(Date.now() / 1000) + (token.expiration ?? ctx.config.accessTokenTtlSeconds)
    const grantHash = hash(`grant:${token.grantId}`)
    track(async () => { await db.run('INSERT INTO grant_jtis (grant_hash, jti, exp) VALUES (?, ?, ?)', [grantHash, token.jti, exp]) })
  })
  provider.on('grant.revoked', (koa: KoaContextWithOIDC, grantId: string) => {
    const grantHash = hash(`grant:${grantId}`)
    track(async () => {
      const now = Math.floor(Date.now() / 1000)
      const live = await db.all<{ jti: string; exp: number }>('SELECT jti, exp FROM grant_jtis WHERE grant_hash = ? AND exp > ?', [grantHash, now])
      for (const row of live) await ctx.revocations.publish('jti', row.jti, row.exp - now + 60)
      await db.run('DELETE FROM grant_jtis WHERE grant_hash = ? OR exp <= ?', [grantHash, now])
      emit(ctx, { type: 'grant.revoked', actor: clientActor(koa), action: 'grant.revoke', outcome: 'success', reason: koa.oidc?.route ?? 'revoked', details: { accessTokens: live.length } })
    })
  })
  provider.on('grant.success', (koa: KoaContextWithOIDC) => {
    const grantType = String(koa.oidc.params?.grant_type ?? '')
    const body = koa.body as { scope?: string } | undefined
    emit(ctx, {
      type: GRANT_EVENT[grantType] ?? 'token.issued', actor: clientActor(koa), action: `token.${grantType.split(':').pop()}`, outcome: 'success',
      resource: typeof koa.oidc.params?.audience === 'string' ? koa.oidc.params.audience : undefined,
      details: { grantType, scope: body?.scope ?? null }, ...requestOf(koa),
    })
  })
  provider.on('grant.error', (koa: KoaContextWithOIDC, err: { error?: string; error_description?: string; error_detail?: string }) => {
    const description = err.error_detail ?? err.error_description ?? ''
    const type = description.includes('refresh token already used') ? 'token.reused'
      : description.includes('authorization code already consumed') ? 'code.replayed'
        : 'token.denied'
    emit(ctx, { type, actor: clientActor(koa), action: `token.${String(koa.oidc?.params?.grant_type ?? 'unknown').split(':').pop()}`, outcome: type === 'token.denied' ? 'failure' : 'denied', reason: err.error ?? 'error', details: { description: description.slice(0, 200) }, ...requestOf(koa) })
  })
  for (const event of ['authorization.error', 'introspection.error', 'revocation.error', 'userinfo.error', 'device_authorization.error', 'end_session.error']) {
    provider.on(event, (koa: KoaContextWithOIDC, err: { error?: string }) => {
      if (err?.error === 'unsupported_token_type') return // JWT access tokens: completed below
      emit(ctx, { type: `${event.split('.')[0]}.failed`, actor: clientActor(koa), action: event.split('.')[0]!, outcome: 'failure', reason: err?.error ?? 'error' })
    })
  }
  provider.on('end_session.success', (koa: KoaContextWithOIDC) => {
    emit(ctx, { type: 'session.ended', actor: clientActor(koa), action: 'logout', outcome: 'success' })
  })
  provider.on('server_error', (_koa: unknown, err: Error) => ctx.log.error({ err }, 'oidc-provider server error'))

  provider.use(async (koa, next) => {
    await next()
    // oidc-provider authenticates the client first, then refuses structured tokens (400 unsupported_token_type).
    const refusedJwt = koa.status === 400 && (koa.body as { error?: string } | undefined)?.error === 'unsupported_token_type'
    if (koa.method === 'POST' && koa.path === '/oauth2/revoke' && koa.status === 200 && koa.oidc?.client) {
      emit(ctx, { type: 'token.revoked', actor: clientActor(koa), action: 'token.revoke', outcome: 'success', reason: 'stored_token' })
    }
    if (koa.method !== 'POST' || !refusedJwt || !koa.oidc?.client) return
    const client = koa.oidc.client
    const payload = await verifyOwnJwt(koa.oidc.params?.token)
    if (koa.path === '/oauth2/introspect') {
      koa.status = 200
      koa.body = { active: false }
      if (!payload || await ctx.revocations.isRevoked(payload as never)) return
      // Public clients may only look at their own tokens (oidc-provider's default policy).
      if (client.metadata().token_endpoint_auth_method === 'none' && payload.client_id !== client.clientId) return
      koa.body = { ...payload, active: true, token_type: 'Bearer' }
    } else if (koa.path === '/oauth2/revoke') {
      koa.status = 200
      koa.body = ''
      const ours = payload !== undefined && payload.client_id === client.clientId && typeof payload.jti === 'string' && typeof payload.exp === 'number'
      if (ours) await ctx.revocations.publish('jti', String(payload.jti), Math.max(60, payload.exp! - Math.floor(Date.now() / 1000) + 60))
      emit(ctx, { type: 'token.revoked', actor: clientActor(koa), action: 'token.revoke', outcome: ours ? 'success' : 'failure', reason: ours ? 'jwt_access_token' : 'not_revocable_by_client' })
    }
  })
}
