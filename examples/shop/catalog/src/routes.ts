// Catalog routes (behind the gateway at `/api/catalog/...`; the gateway strips
// `/api`). Reads are public: the gateway forwards anonymous reads without a
// token, and `auth: 'optional'` lets them through here — the mTLS peer must
// still be allowed to call the route. Creating a product is policy
// (`catalog.createProduct`: role admin with MFA), not a role check in code.
import type { FastifyInstance } from 'fastify'
import type { Clock } from '@bulwark/core'
import { CatalogErrors } from './errors.ts'
import type { CatalogStore, NewProduct } from './store.ts'

const CATALOG = { type: 'Catalog', id: 'catalog' }
const ProductId = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' }

export const schemas = {
  page: {
    type: 'object', additionalProperties: false,
    properties: { limit: { type: 'integer', minimum: 1, maximum: 100 }, cursor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
  },
  id: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: ProductId } },
  create: {
    type: 'object', additionalProperties: false, required: ['name', 'price'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 200 },
      description: { type: 'string', maxLength: 2000 },
      price: { type: 'integer', minimum: 0, maximum: 100_000_000 },
      currency: { type: 'string', enum: ['USD', 'EUR'] },
    },
  },
} as const

export function encodeCursor(seq: number): string {
  return Buffer.from(`s${seq}`).toString('base64url')
}

export function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  const seq = Number(text.slice(1))
  if (!text.startsWith('s') || !Number.isSafeInteger(seq) || seq < 0) throw CatalogErrors.badCursor()
  return seq
}

export function registerCatalogRoutes(app: FastifyInstance, deps: { store: CatalogStore; clock: Clock; defaultPageSize: number }): void {
  const { store } = deps
  app.get<{ Querystring: { limit?: number; cursor?: string } }>('/catalog/products', {
    config: { auth: 'optional' }, schema: { querystring: schemas.page },
  }, async (request) => {
    request.authorize('catalog.listProducts', CATALOG)
    const page = await store.list(request.query.limit ?? deps.defaultPageSize, decodeCursor(request.query.cursor))
    return { items: page.items, nextCursor: page.more && page.lastSeq !== undefined ? encodeCursor(page.lastSeq) : null }
  })

  app.get<{ Params: { id: string } }>('/catalog/products/:id', { config: { auth: 'optional' }, schema: { params: schemas.id } }, async (request) => {
    const id = request.params.id
    request.authorize('catalog.getProduct', { type: 'Product', id }, [{ uid: { type: 'Product', id }, attrs: {}, parents: [CATALOG] }])
    const product = await store.get(id)
    if (!product) throw CatalogErrors.productNotFound(`product \`${id}\` not found`)
    return product
  })

  app.post<{ Body: NewProduct }>('/catalog/products', { schema: { body: schemas.create } }, async (request, reply) => {
    request.authorize('catalog.createProduct', CATALOG)
    const product = await store.create(request.body, deps.clock.now())
    request.log.info({ productId: product.id, by: request.auth.sub }, 'product created')
    return reply.code(201).send(product)
  })
}
