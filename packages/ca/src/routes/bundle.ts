// The trust bundle feed: roots, live intermediates, revoked serials and
// quarantined identities, with a long-poll so revocation reaches every peer
// within a round trip. Open to any verified peer of the trust domain.
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import type { RouteContext } from '../context.ts'

const BundleQuery = Type.Object({
  version: Type.Optional(Type.Integer({ minimum: 0 })),
  wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
}, { additionalProperties: false })

export function registerBundleRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Querystring: Static<typeof BundleQuery> }>('/v1/bundle', { schema: { querystring: BundleQuery } }, async (request, reply) => {
    const { version, wait } = request.query
    const waitSeconds = Math.min(wait ?? 0, ctx.config.bundleMaxWaitSeconds)
    if (version !== undefined && version === await ctx.authority.sync() && waitSeconds > 0) {
      const deadline = Date.now() + waitSeconds * 1000
      let gone = false
      for (let left = waitSeconds * 1000; left > 0 && !gone; left = deadline - Date.now()) {
        // The response's close fires only if the caller goes away while we wait.
        await new Promise<void>((resolve) => {
          const cancel = ctx.authority.waitForChange(ctx.bundlePollMs ? Math.min(left, ctx.bundlePollMs) : left, () => {
            reply.raw.off('close', onClose)
            resolve()
          })
          const onClose = () => { gone = true; cancel() }
          reply.raw.once('close', onClose)
        })
        if (gone || ctx.authority.closed || await ctx.authority.sync() !== version) break
      }
    }
    return await ctx.authority.bundle()
  })
}
