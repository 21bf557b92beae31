// Admin API over mTLS. The revocation feed is for gateways and services; the
// rest is for the operator (`spiffe://<td>/operator/*`), except locking a
// user, which the audit service's detectors may also do, and the account
// directory, which the users service reads for the admin's user listing.
import { Type } from '@sinclair/typebox'
import { createLocalJWKSet, jwtVerify } from 'jose'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { CoreErrors, isUniqueViolation, requirePeer, parseSpiffeId } from '@bulwark/core'
import { isProxied } from '../http/forwarded.ts'
import type { IdentityContext } from '../context.ts'
import { emit } from '../context.ts'
import { IdentityErrors } from '../errors.ts'
import { USERNAME, publicUser, type UserRecord } from '../store/users.ts'
import { isAcceptablePassword } from '../users/passwords.ts'
import { accountKey } from '../users/lockout.ts'
import { newTotpSecret, totpQrDataUrl, totpUri } from '../users/totp.ts'
import { randomSecret } from '../store/crypto.ts'

const Role = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' })
const CreateUser = Type.Object({
  username: Type.String({ pattern: USERNAME.source, maxLength: 64 }),
  password: Type.String({ minLength: 12, maxLength: 256 }),
  roles: Type.Array(Role, { maxItems: 16, default: ['customer'] }),
  displayName: Type.Optional(Type.String({ maxLength: 128 })),
  email: Type.Optional(Type.String({ maxLength: 254, format: 'email' })),
  mfaRequired: Type.Optional(Type.Boolean()),
}, { additionalProperties: false })
const PatchUser = Type.Object({
  roles: Type.Optional(Type.Array(Role, { maxItems: 16 })),
  displayName: Type.Optional(Type.String({ maxLength: 128 })),
  email: Type.Optional(Type.String({ maxLength: 254, format: 'email' })),
  mfaRequired: Type.Optional(Type.Boolean()),
  disabled: Type.Optional(Type.Boolean()),
  password: Type.Optional(Type.String({ minLength: 12, maxLength: 256 })),
}, { additionalProperties: false, minProperties: 1 })
const Lock = Type.Object({
  seconds: Type.Integer({ minimum: 1, maximum: 30 * 86400 }),
  reason: Type.String({ minLength: 1, maxLength: 200 }),
  /** Also end every session and token of the user; a lock on its own stops new password logins only. */
  revokeSessions: Type.Boolean({ default: false }),
}, { additionalProperties: false })
const CreateClient = Type.Object({
  clientId: Type.String({ pattern: '^(?!svc-)[a-z0-9][a-z0-9._-]{1,63}$' }),
  public: Type.Boolean({ default: false }),
  grantTypes: Type.Array(Type.Union([Type.Literal('authorization_code'), Type.Literal('refresh_token'), Type.Literal('client_credentials'), Type.Literal('urn:ietf:params:oauth:grant-type:device_code')]), { minItems: 1, maxItems: 4 }),
  redirectUris: Type.Array(Type.String({ format: 'uri', maxLength: 512 }), { maxItems: 10, default: [] }),
  scopes: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9:_.-]{0,63}$' }), { maxItems: 32, default: [] }),
  firstParty: Type.Boolean({ default: false }),
  name: Type.Optional(Type.String({ maxLength: 128 })),
  /** Public keys for `private_key_jwt` client authentication (RFC 7523); without them a secret is issued. */
  jwks: Type.Optional(Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 5 }) }, { additionalProperties: false })),
}, { additionalProperties: false })
const Params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 256 }) })
const AccountsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
  cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' })),
  /** Comma-separated user ids (the users service enriching an email search). */
  ids: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]{1,64}(,[A-Za-z0-9-]{1,64}){0,99}$' })),
}, { additionalProperties: false })
const Feed = Type.Object({ after: Type.Integer({ minimum: 0, default: 0 }), wait: Type.Integer({ minimum: 0, maximum: 60, default: 0 }) }, { additionalProperties: false })

export function registerAdminRoutes(app: FastifyInstance, ctx: IdentityContext): void {
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode === 401 || reply.statusCode === 403) {
      emit(ctx, { type: 'authz.denied', actor: { kind: request.peer ? 'service' : 'anonymous', ...(request.peer ? { spiffeId: request.peer.spiffeId } : {}) }, action: `${request.method} ${request.routeOptions.url ?? 'admin'}`.slice(0, 128), outcome: 'denied', reason: 'BW_PEER_IDENTITY', requestId: String(request.id) })
    }
  })
  // Proxied (public) traffic never reaches the admin API, even though the gateway's SVID carries it.
  app.addHook('onRequest', async (request) => {
    if (isProxied(request)) throw CoreErrors.notFound(`no route for \`${request.method} ${request.url.split('?')[0]!.slice(0, 200)}\``)
  })
  const td = ctx.trustDomain
  const isOperator = (id: string) => parseSpiffeId(id)?.trustDomain === td && parseSpiffeId(id)!.path.startsWith('/operator/')
  const isService = (id: string) => parseSpiffeId(id)?.trustDomain === td && /^\/svc\/[a-z][a-z0-9-]{0,31}$/.test(parseSpiffeId(id)!.path)
  const operator = (request: FastifyRequest) => requirePeer(request, isOperator)
  const actorOf = (request: FastifyRequest) => ({ kind: 'operator' as const, spiffeId: request.peer?.spiffeId })
  async function findUser(id: string): Promise<UserRecord> {
    const user = (await ctx.users.byId(id)) ?? (await ctx.users.byUsername(id.toLowerCase()))
    if (!user) throw IdentityErrors.userNotFound(`no user \`${id.slice(0, 64)}\``)
    return user
  }

  /** Another replica may create the same user or client between our check and our insert: the same 409. */
  async function createUser(user: Parameters<IdentityContext['users']['create']>[0]) {
    try {
      return await ctx.users.create(user)
    } catch (error) {
      if (isUniqueViolation(error)) throw IdentityErrors.userExists(`user \`${user.username}\` already exists`)
      throw error
    }
  }
  async function createClient(clientId: string, metadata: Parameters<IdentityContext['clients']['create']>[0]) {
    try {
      return await ctx.clients.create(metadata)
    } catch (error) {
      if (isUniqueViolation(error)) throw IdentityErrors.clientExists(`client \`${clientId}\` already exists`)
      throw error
    }
  }

  app.get('/admin/v1/revocations', { schema: { querystring: Feed } }, async (request) => {
    requirePeer(request, (id) => isService(id) || isOperator(id))
    const { after, wait } = request.query as { after: number; wait: number }
    await ctx.revocations.wait(after, wait * 1000)
    return await ctx.revocations.after(after)
  })

  const usersService = `spiffe://${td}/svc/users`
  /**
   * Self-service erasure: the users service may revoke exactly the subject whose own token it
   * presents, exchanged for identity's audience with users in the `act` chain. Anything else is
   * the operator's.
   */
  async function checkErasureCaller(request: FastifyRequest, subjectId: string | undefined): Promise<void> {
    const header = request.headers.authorization
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : undefined
    if (!token || !subjectId) throw CoreErrors.forbidden('the users service may revoke only the subject whose token it presents')
    const publicKeys = (await ctx.keys.jwks()).map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub }) => pub)
    let payload
    try {
      ({ payload } = await jwtVerify(token, createLocalJWKSet({ keys: publicKeys as never }), {
        issuer: ctx.issuer, audience: `spiffe://${td}/svc/identity`, typ: 'at+jwt', requiredClaims: ['sub', 'exp'],
      }))
    } catch {
      throw CoreErrors.forbidden('the presented token is not valid for identity')
    }
    const act = payload.act as { sub?: string } | undefined
    if (payload.sub !== subjectId || act?.sub !== usersService) throw CoreErrors.forbidden('the presented token is not the subject\'s own, exchanged by the users service')
  }

  app.post('/admin/v1/subjects/:id/revoke', { schema: { params: Params } }, async (request) => {
    const peer = requirePeer(request, (spiffeId) => isOperator(spiffeId) || spiffeId === usersService)
    const { id } = request.params as { id: string }
    if (peer.spiffeId === usersService) await checkErasureCaller(request, (await ctx.users.byId(id))?.id)
    const user = (await ctx.users.byId(id)) ?? (await ctx.users.byUsername(id.toLowerCase()))
    const client = user ? undefined : await ctx.clients.providerMetadata(id)
    if (!user && !client) throw IdentityErrors.subjectNotFound(`no user or client \`${id.slice(0, 64)}\``)
    const subject = user ? { kind: 'user' as const, id: user.id } : { kind: 'client' as const, id }
    const removed = await ctx.revokeSubject(subject)
    emit(ctx, { type: 'subject.revoked', actor: peer.spiffeId === usersService ? { kind: 'service', spiffeId: usersService } : actorOf(request), action: 'subject.revoke', outcome: 'success', resource: `${subject.kind}:${subject.id}`, requestId: String(request.id), details: { removedRecords: removed } })
    return { subject: subject.id, kind: subject.kind, removedRecords: removed, revokedAt: new Date(ctx.clock.now()).toISOString() }
  })

  app.get('/admin/v1/subjects/:id/sessions', { schema: { params: Params } }, async (request) => {
    operator(request)
    const user = await findUser((request.params as { id: string }).id)
    return { subject: user.id, records: await ctx.recordsOf(user.id) }
  })

  app.get('/admin/v1/keys', async (request) => {
    operator(request)
    return { keys: await ctx.keys.list() }
  })
  app.post('/admin/v1/keys/rotate', async (request) => {
    operator(request)
    const keys = await ctx.keys.rotate()
    await ctx.reloadKeys()
    emit(ctx, { type: 'key.rotated', actor: actorOf(request), action: 'keys.rotate', outcome: 'success', resource: 'signing-keys', requestId: String(request.id), details: { current: keys.find((k) => k.state === 'current')?.kid ?? null } })
    return { keys }
  })

  app.get('/admin/v1/users', async (request) => {
    operator(request)
    return { users: await ctx.users.list() }
  })
  app.get('/admin/v1/users/:id', { schema: { params: Params } }, async (request) => {
    operator(request)
    return publicUser(await findUser((request.params as { id: string }).id))
  })
  /**
   * The account directory: identity owns the accounts, the users service merges them with its profiles
   * for `GET /api/admin/users` (which it authorizes: admin with MFA). Only id, username, roles, disabled
   * and creation time leave: no hash, no TOTP, no PII. `svc/users` may read this and nothing else here.
   */
  app.get('/admin/v1/accounts', { schema: { querystring: AccountsQuery } }, async (request) => {
    const peer = requirePeer(request, (id) => isOperator(id) || id === usersService)
    const { limit, cursor, ids } = request.query as { limit: number; cursor?: string; ids?: string }
    const after = cursor === undefined ? '' : Buffer.from(cursor, 'base64url').toString('utf8')
    if (cursor !== undefined && !USERNAME.test(after)) throw IdentityErrors.badCursor()
    const page = await ctx.users.accounts(limit, after, ids?.split(','))
    emit(ctx, {
      type: 'account.listed', actor: { kind: isOperator(peer.spiffeId) ? 'operator' : 'service', spiffeId: peer.spiffeId }, action: 'accounts.list',
      outcome: 'success', resource: 'accounts', requestId: String(request.id), details: { count: page.accounts.length, byId: ids !== undefined },
    })
    return { items: page.accounts, nextCursor: page.more ? Buffer.from(page.accounts.at(-1)!.username).toString('base64url') : null }
  })
  app.post('/admin/v1/users', { schema: { body: CreateUser } }, async (request, reply) => {
    operator(request)
    const body = request.body as { username: string; password: string; roles: string[]; displayName?: string; email?: string; mfaRequired?: boolean }
    if (!isAcceptablePassword(body.password)) throw IdentityErrors.weakPassword()
    if (await ctx.users.byUsername(body.username)) throw IdentityErrors.userExists(`user \`${body.username}\` already exists`)
    const user = await createUser({ ...body, passwordHash: await ctx.hasher.hash(body.password) })
    emit(ctx, { type: 'user.created', actor: actorOf(request), action: 'users.create', outcome: 'success', resource: `user:${user.id}`, requestId: String(request.id), details: { roles: user.roles.join(',') } })
    return reply.code(201).send(user)
  })
  app.patch('/admin/v1/users/:id', { schema: { params: Params, body: PatchUser } }, async (request) => {
    operator(request)
    const user = await findUser((request.params as { id: string }).id)
    const { password, ...patch } = request.body as { password?: string } & Record<string, unknown>
    const updated = (await ctx.users.update(user.id, { ...patch, ...(password ? { passwordHash: await ctx.hasher.hash(password) } : {}) }))!
    // Disabling an account or changing its password ends everything it holds.
    if (patch.disabled === true || password) await ctx.revokeSubject({ kind: 'user', id: user.id })
    emit(ctx, { type: 'user.updated', actor: actorOf(request), action: 'users.update', outcome: 'success', resource: `user:${user.id}`, requestId: String(request.id), details: { fields: Object.keys(request.body as object).join(',') } })
    return updated
  })
  app.post('/admin/v1/users/:id/totp', { schema: { params: Params } }, async (request) => {
    operator(request)
    const user = await findUser((request.params as { id: string }).id)
    const secret = newTotpSecret()
    await ctx.users.setTotpSecret(user.id, secret)
    const uri = totpUri(new URL(ctx.issuer).host, user.username, secret)
    emit(ctx, { type: 'mfa.enrolled', actor: actorOf(request), action: 'mfa.enrol', outcome: 'success', resource: `user:${user.id}`, requestId: String(request.id) })
    return { otpauthUri: uri, qrDataUrl: await totpQrDataUrl(uri) }
  })
  // A lock stops new password logins only (NIST SP 800-63B §5.2.2 throttling): the user's sessions and
  // refresh tokens keep working, or anyone who knows a username could log its owner out everywhere.
  // Ending them is a separate, explicit decision (`revokeSessions`): an operator's, or a detector's when
  // the password is known to someone else (repeated MFA failures).
  app.post('/admin/v1/users/:id/lock', { schema: { params: Params, body: Lock } }, async (request) => {
    const peer = requirePeer(request, (id) => isOperator(id) || id === `spiffe://${td}/svc/audit`)
    const user = await findUser((request.params as { id: string }).id)
    const { seconds, reason, revokeSessions } = request.body as { seconds: number; reason: string; revokeSessions: boolean }
    const actor = { kind: isOperator(peer.spiffeId) ? 'operator' as const : 'service' as const, spiffeId: peer.spiffeId }
    await ctx.lockout.lock(accountKey(user.username), seconds, reason)
    emit(ctx, { type: 'account.locked', actor, action: 'users.lock', outcome: 'success', resource: `user:${user.id}`, reason: actor.kind === 'operator' ? 'admin_lock' : 'detector_lock', requestId: String(request.id), details: { seconds, revokeSessions } })
    let removed = 0
    if (revokeSessions) {
      removed = await ctx.revokeSubject({ kind: 'user', id: user.id })
      emit(ctx, { type: 'subject.revoked', actor, action: 'subject.revoke', outcome: 'success', resource: `user:${user.id}`, reason: 'lock_with_revoke', requestId: String(request.id), details: { removedRecords: removed } })
    }
    return { user: user.id, lockedUntil: new Date((await ctx.lockout.lockedUntil(accountKey(user.username))) ?? ctx.clock.now()).toISOString(), sessionsRevoked: revokeSessions, removedRecords: removed }
  })
  app.post('/admin/v1/users/:id/unlock', { schema: { params: Params } }, async (request) => {
    operator(request)
    const user = await findUser((request.params as { id: string }).id)
    await ctx.lockout.unlock(accountKey(user.username))
    emit(ctx, { type: 'account.unlocked', actor: actorOf(request), action: 'users.unlock', outcome: 'success', resource: `user:${user.id}`, requestId: String(request.id) })
    return { user: user.id, locked: false }
  })

  app.get('/admin/v1/clients', async (request) => {
    operator(request)
    return { clients: await ctx.clients.list() }
  })
  app.get('/admin/v1/clients/:id', { schema: { params: Params } }, async (request) => {
    operator(request)
    const client = await ctx.clients.get((request.params as { id: string }).id)
    if (!client) throw IdentityErrors.clientNotFound()
    return client
  })
  app.post('/admin/v1/clients', { schema: { body: CreateClient } }, async (request, reply) => {
    operator(request)
    const body = request.body as { clientId: string; public: boolean; grantTypes: string[]; redirectUris: string[]; scopes: string[]; firstParty: boolean; name?: string; jwks?: { keys: unknown[] } }
    if (await ctx.clients.get(body.clientId)) throw IdentityErrors.clientExists(`client \`${body.clientId}\` already exists`)
    if (body.jwks && (body.public || body.jwks.keys.some((k) => typeof k === 'object' && k !== null && 'd' in k))) {
      throw CoreErrors.validation('jwks must hold public keys of a confidential client')
    }
    const secret = body.public || body.jwks ? undefined : randomSecret()
    const method = body.public ? 'none' : body.jwks ? 'private_key_jwt' : 'client_secret_basic'
    const client = await createClient(body.clientId, {
      client_id: body.clientId, ...(secret ? { client_secret: secret } : {}), ...(body.jwks ? { jwks: body.jwks } : {}),
      token_endpoint_auth_method: method, application_type: body.public ? 'native' : 'web',
      grant_types: body.grantTypes, response_types: body.grantTypes.includes('authorization_code') ? ['code'] : [],
      redirect_uris: body.redirectUris, scope: body.scopes.join(' '), first_party: body.firstParty, ...(body.name ? { client_name: body.name } : {}),
    })
    emit(ctx, { type: 'client.created', actor: actorOf(request), action: 'clients.create', outcome: 'success', resource: `client:${body.clientId}`, requestId: String(request.id) })
    return reply.code(201).send({ ...client, ...(secret ? { clientSecret: secret } : {}) })
  })
}
