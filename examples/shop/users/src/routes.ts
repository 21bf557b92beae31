// Users routes (behind the gateway: `/api/users/me…` -> `/users/me…`,
// `/api/admin/users` -> `/admin/users`). Self-service is Cedar policy over the
// profile's `owner`; the directory is `users.listUsers` (admin with MFA) and
// lists every account identity holds, each with the profile fields it has.
// PATCH accepts exactly displayName, email and address: any other field is a
// 400 (mass assignment, OWASP API3:2023). Erasure is audited (`profile.erased`,
// success or error) with the subject id only, never a profile field.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AuditSink, Clock } from '@bulwark/core'
import { UsersErrors } from './errors.ts'
import type { ProfileData, Profiles } from './profiles.ts'
import { auditActor, auditOutcome, ref, type SecureService } from '@bulwark/sdk/service'
import type { ProfileRow, UsersStore } from './store.ts'
import type { Account, AccountDirectory } from './directory.ts'

const AddressObject = {
  type: 'object', additionalProperties: false, minProperties: 1,
  properties: Object.fromEntries(['line1', 'line2', 'city', 'region', 'postalCode', 'country'].map((k) => [k, { type: 'string', maxLength: 200 }])),
}
export const schemas = {
  patch: {
    type: 'object', additionalProperties: false, minProperties: 1,
    properties: {
      displayName: { type: 'string', minLength: 1, maxLength: 100 },
      email: { type: 'string', format: 'email', maxLength: 254 },
      address: { anyOf: [{ type: 'string', minLength: 1, maxLength: 500 }, AddressObject] },
    },
  },
  page: {
    type: 'object', additionalProperties: false,
    properties: { limit: { type: 'integer', minimum: 1, maximum: 100 }, cursor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' }, email: { type: 'string', maxLength: 254 } },
  },
} as const

const encodeCursor = (seq: number) => Buffer.from(`u${seq}`).toString('base64url')
function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  const seq = Number(text.slice(1))
  if (!text.startsWith('u') || !Number.isSafeInteger(seq) || seq < 0) throw UsersErrors.badCursor()
  return seq
}

function selfProfile(request: FastifyRequest, action: string): string {
  const id = request.auth.sub
  request.authorize(action, { type: 'UserProfile', id }, [{ uid: { type: 'UserProfile', id }, attrs: { owner: ref('User', id) }, parents: [] }])
  return id
}

export type UsersRouteDeps = {
  store: UsersStore; profiles: Profiles; accounts: AccountDirectory; clock: Clock; audit: AuditSink; defaultPageSize: number; revokeTokensOnErase: boolean
}

export function registerUsersRoutes(app: SecureService & FastifyInstance, deps: UsersRouteDeps): void {
  const { profiles } = deps
  app.get('/users/me', async (request) => profiles.load(selfProfile(request, 'users.getMe')))

  app.patch<{ Body: Partial<ProfileData> }>('/users/me', { schema: { body: schemas.patch } }, async (request) => {
    const id = selfProfile(request, 'users.updateMe')
    const profile = await profiles.save(id, request.body)
    request.log.info({ fields: Object.keys(request.body) }, 'profile updated')
    return profile
  })

  app.get('/users/me/export', async (request, reply) => {
    const profile = await profiles.load(selfProfile(request, 'users.exportMe'))
    reply.header('content-disposition', 'attachment; filename="my-data.json"')
    return { exportedAt: new Date(deps.clock.now()).toISOString(), service: 'users', subject: request.auth.sub, profile }
  })

  app.delete('/users/me', async (request) => {
    const id = selfProfile(request, 'users.deleteMe')
    const event = { type: 'profile.erased', actor: auditActor(request.auth), action: 'users.deleteMe', resource: `UserProfile::"${id}"`, requestId: String(request.id) }
    try {
      await profiles.erase(id)
    } catch (error) {
      deps.audit.emit({ ...event, ...auditOutcome(error) })
      throw error
    }
    let tokensRevoked = false
    if (deps.revokeTokensOnErase) {
      // Identity's admin API decides whether the users service may do this (see README).
      try {
        const res = await app.callService('identity', { method: 'POST', path: `/admin/v1/subjects/${encodeURIComponent(id)}/revoke`, requestId: String(request.id), subjectToken: request.accessToken })
        tokensRevoked = res.status >= 200 && res.status < 300
      } catch (error) {
        request.log.warn({ err: (error as Error).message }, 'token revocation on erase failed')
      }
    }
    deps.audit.emit({ ...event, outcome: 'success', details: { cryptoShredded: true, tokensRevoked } })
    return { erased: true, tokensRevoked }
  })

  /** An account with the profile fields it has (none until the user calls this service, none once erased). */
  async function entry(account: Account, row: ProfileRow | undefined) {
    const profile = row && !row.erased_at ? await profiles.decrypt(row) : undefined
    return {
      id: account.id, username: account.username, roles: account.roles, disabled: account.disabled, createdAt: account.createdAt,
      displayName: profile?.displayName ?? null, email: profile?.email ?? null,
    }
  }

  app.get<{ Querystring: { limit?: number; cursor?: string; email?: string } }>('/admin/users', { schema: { querystring: schemas.page } }, async (request) => {
    request.authorize('users.listUsers', { type: 'UserDirectory', id: 'users' })
    const limit = request.query.limit ?? deps.defaultPageSize
    const requestId = String(request.id)
    let items: Array<Awaited<ReturnType<typeof entry>>>
    let nextCursor: string | null
    const index = request.query.email === undefined ? undefined : await profiles.emailIndex(request.query.email)
    if (index === undefined) {
      // Every account, paged by identity; profiles joined by id.
      const page = await deps.accounts.page(limit, request.query.cursor, requestId)
      items = await Promise.all(page.items.map(async (account) => entry(account, await deps.store.get(account.id))))
      nextCursor = page.nextCursor
    } else {
      // By email: the blind index finds the profiles, identity adds their accounts.
      const page = await deps.store.list(limit, decodeCursor(request.query.cursor), index)
      const accounts = await deps.accounts.byIds(page.rows.map((row) => row.id), requestId)
      items = await Promise.all(page.rows.filter((row) => accounts.has(row.id)).map((row) => entry(accounts.get(row.id)!, row)))
      nextCursor = page.more ? encodeCursor(page.rows.at(-1)!.seq) : null
    }
    deps.audit.emit({
      type: 'users.listed', actor: { kind: 'user', id: request.auth.sub }, action: 'users.listUsers', resource: 'UserDirectory::"users"',
      outcome: 'success', requestId, details: { count: items.length, byEmail: index !== undefined },
    })
    return { items, nextCursor }
  })
}
