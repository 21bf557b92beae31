// KV v2 routes: /v1/kv/data, /list, /undelete, /destroy, /metadata.
// Order on every route: identify caller → validate path → authorize → act → audit.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { Access, Principal } from '../access.ts'
import type { KvEngine } from '../kv.ts'
import type { WatchHub } from '../watch-hub.ts'
import { checkPath, checkPrefix, checkVersions } from '../paths.ts'
import { VaultErrors } from '../errors.ts'

export type KvRouteDeps = {
  kv: KvEngine; access: Access; hub: WatchHub; maxPathLength: number; maxWaitSeconds: number
  /** With replicas (PostgreSQL), a write elsewhere wakes no one here: a waiting read also checks the stored revision this often. */
  pollMs?: number
}

const PutBody = Type.Object({
  data: Type.Record(Type.String({ minLength: 1, maxLength: 256 }), Type.Unknown(), { maxProperties: 1000 }),
  cas: Type.Optional(Type.Integer({ minimum: 0 })),
}, { additionalProperties: false })
const VersionsBody = Type.Object({ versions: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 100 }) }, { additionalProperties: false })
const MetaBody = Type.Object({
  maxVersions: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  casRequired: Type.Optional(Type.Boolean()),
}, { additionalProperties: false })
const GetQuery = Type.Object({
  version: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,8}$' })),
  wait: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })),
}, { additionalProperties: false })

const hidden = (path: string) => () => VaultErrors.notFound(`secret \`${path || '/'}\` not found`)

export function registerKvRoutes(app: FastifyInstance, deps: KvRouteDeps): void {
  const { kv, access } = deps

  function guard(request: FastifyRequest, action: string, prefix = false): { principal: Principal; path: string } {
    const principal = access.principalOf(request)
    const raw = (request.params as Record<string, string>)['*'] ?? ''
    const path = prefix ? checkPrefix(raw, deps.maxPathLength) : checkPath(raw, deps.maxPathLength)
    access.check(request, principal, action, { type: 'Secret', id: path }, hidden(path))
    return { principal, path }
  }

  async function run<T>(request: FastifyRequest, principal: Principal, type: string, action: string, path: string, fn: () => T | Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      return access.fail(request, principal, type, action, path, error)
    }
  }

  app.get('/v1/kv/data/*', { schema: { querystring: GetQuery } }, async (request, reply) => {
    const { principal, path } = guard(request, 'kv.read')
    const query = request.query as { version?: string; wait?: string }
    const known = request.headers['if-none-match']
    if (query.wait && known && query.version === undefined) {
      const revision = await kv.revision(path)
      if (revision !== undefined && known === `"${revision}"`) {
        const deadline = Date.now() + Math.min(Number(query.wait), deps.maxWaitSeconds) * 1000
        for (let left = deadline - Date.now(); left > 0 && !deps.hub.closed; left = deadline - Date.now()) {
          await deps.hub.wait(path, deps.pollMs ? Math.min(left, deps.pollMs) : left)
          if (await kv.revision(path) !== revision) break
        }
        if (await kv.revision(path) === revision) return reply.code(304).header('etag', `"${revision}"`).send()
      }
    }
    const version = query.version === undefined ? undefined : Number(query.version)
    const secret = await run(request, principal, 'secret.read', 'kv.read', path, () => kv.get(path, version))
    access.audit(request, principal, { type: 'secret.read', action: 'kv.read', resource: path, outcome: 'success', details: { version: secret.version } })
    reply.header('etag', `"${secret.revision}"`).header('cache-control', 'no-store')
    return { path, version: secret.version, data: secret.data, createdAt: secret.createdAt, createdBy: secret.createdBy }
  })

  app.put('/v1/kv/data/*', { schema: { body: PutBody } }, async (request) => {
    const { principal, path } = guard(request, 'kv.write')
    const body = request.body as { data: Record<string, unknown>; cas?: number }
    const result = await run(request, principal, 'secret.written', 'kv.write', path, () => kv.put(path, body.data, { cas: body.cas, actor: principal.spiffeId }))
    access.audit(request, principal, { type: 'secret.written', action: 'kv.write', resource: path, outcome: 'success', details: { version: result.version, cas: body.cas ?? null } })
    return result
  })

  app.delete('/v1/kv/data/*', async (request) => {
    const { principal, path } = guard(request, 'kv.delete')
    const versions = await run(request, principal, 'secret.deleted', 'kv.delete', path, () => kv.softDelete(path, principal.spiffeId))
    access.audit(request, principal, { type: 'secret.deleted', action: 'kv.delete', resource: path, outcome: 'success', details: { versions: versions.join(',') } })
    return { path, deleted: versions }
  })

  for (const [verb, action, type] of [['undelete', 'kv.undelete', 'secret.undeleted'], ['destroy', 'kv.destroy', 'secret.destroyed']] as const) {
    app.post(`/v1/kv/${verb}/*`, { schema: { body: VersionsBody } }, async (request) => {
      const { principal, path } = guard(request, action)
      const versions = checkVersions((request.body as { versions: unknown }).versions)
      const done = await run(request, principal, type, action, path, () =>
        verb === 'undelete' ? kv.undelete(path, versions, principal.spiffeId) : kv.destroy(path, versions, principal.spiffeId))
      access.audit(request, principal, { type, action, resource: path, outcome: 'success', details: { versions: done.join(',') } })
      return { path, [verb === 'undelete' ? 'undeleted' : 'destroyed']: done }
    })
  }

  app.get('/v1/kv/metadata/*', async (request) => {
    const { principal, path } = guard(request, 'kv.metadata')
    const meta = await run(request, principal, 'secret.metadata_read', 'kv.metadata', path, () => kv.metadata(path))
    access.audit(request, principal, { type: 'secret.metadata_read', action: 'kv.metadata', resource: path, outcome: 'success' })
    return meta
  })

  app.post('/v1/kv/metadata/*', { schema: { body: MetaBody } }, async (request) => {
    const { principal, path } = guard(request, 'kv.write')
    const settings = request.body as { maxVersions?: number; casRequired?: boolean }
    await run(request, principal, 'secret.metadata_updated', 'kv.write', path, () => kv.configure(path, settings, principal.spiffeId))
    access.audit(request, principal, { type: 'secret.metadata_updated', action: 'kv.write', resource: path, outcome: 'success', details: { maxVersions: settings.maxVersions ?? null, casRequired: settings.casRequired ?? null } })
    return await kv.metadata(path)
  })

  app.delete('/v1/kv/metadata/*', async (request) => {
    const { principal, path } = guard(request, 'kv.destroy')
    await run(request, principal, 'secret.destroyed', 'kv.destroy', path, () => kv.deleteAll(path))
    access.audit(request, principal, { type: 'secret.destroyed', action: 'kv.destroy', resource: path, outcome: 'success', details: { all: true } })
    return { path, destroyed: 'all' }
  })

  const list = async (request: FastifyRequest) => {
    const { principal, path: prefix } = guard(request, 'kv.list', true)
    const keys = await kv.list(prefix)
    access.audit(request, principal, { type: 'secret.listed', action: 'kv.list', resource: prefix || '/', outcome: 'success', details: { count: keys.length } })
    // An empty prefix answers exactly like a forbidden one.
    if (keys.length === 0) throw hidden(prefix)()
    return { prefix, keys }
  }
  app.get('/v1/kv/list/*', list)
  app.get('/v1/kv/list', list)
}
