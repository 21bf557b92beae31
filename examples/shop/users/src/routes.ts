// Users routes (behind the gateway: `/api/users/me…` -> `/users/me…`,
// `/api/admin/users` -> `/admin/users`). Self-service is Cedar policy over the
// profile's `owner`; the directory is `users.listUsers` (admin with MFA).
// PATCH accepts exactly displayName, email and address: any other field is a
// 400 (mass assignment, OWASP API3:2023). Erasure is audited (`profile.erased`,
// success or error) with the subject id only, never a profile field.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AuditSink, Clock } from '@bulwark/core'
import { UsersErrors } from './errors.ts'
import type { ProfileData, Profiles } from './profiles.ts'
import { auditActor, auditOutcome, ref, type SecureService } from '@bulwark/sdk/service'
import type { UsersStore } from './store.ts'

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
    properties: { limit: { type: 'integer', minimum: 1, maximum: 100 }, cursor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' }, email: { type: 'string', maxLength: 254 } },
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
  store: UsersStore; profiles: Profiles; clock: Clock; audit: AuditSink; defaultPageSize: number; revokeTokensOnErase: boolean
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

  app.get<{ Querystring: { limit?: number; cursor?: string; email?: string } }>('/admin/users', { schema: { querystring: schemas.page } }, async (request) => {
    request.authorize('users.listUsers', { type: 'UserDirectory', id: 'users' })
    const index = request.query.email === undefined ? undefined : await profiles.emailIndex(request.query.email)
    const page = deps.store.list(request.query.limit ?? deps.defaultPageSize, decodeCursor(request.query.cursor), index)
    const items = await Promise.all(page.rows.map(async (row) => {
      const p = await profiles.decrypt(row)
      return { id: p.id, displayName: p.displayName, email: p.email, createdAt: p.createdAt }
    }))
    deps.audit.emit({
      type: 'users.listed', actor: { kind: 'user', id: request.auth.sub }, action: 'users.listUsers', resource: 'UserDirectory::"users"',
      outcome: 'success', requestId: String(request.id), details: { count: items.length, byEmail: index !== undefined },
    })
    return { items, nextCursor: page.more ? encodeCursor(page.rows.at(-1)!.seq) : null }
  })
}
