// Orders routes (behind the gateway at `/api/orders`). Who may read which
// order is Cedar policy over the order's `owner` attribute (owner, admin with
// MFA, or a client holding `orders:read:all`); anyone else gets 404, the same
// answer as for an order that does not exist (OWASP API1:2023). Placing an
// order is audited (`order.placed`, success or failure) with ids and amounts
// only: no card data, no PII.
import type { FastifyInstance } from 'fastify'
import type { AuditSink, Clock } from '@bulwark/core'
import { OrdersErrors } from './errors.ts'
import { placeOrder, type PlaceOrderInput } from './place-order.ts'
import { auditActor, auditOutcome, ref, type SecureService } from '@bulwark/sdk/service'
import type { Order, OrdersStore } from './store.ts'

const Id = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' }
export const schemas = {
  create: {
    type: 'object', additionalProperties: false, required: ['items', 'paymentMethodId'],
    properties: {
      items: {
        type: 'array', minItems: 1, maxItems: 100,
        items: { type: 'object', additionalProperties: false, required: ['productId', 'quantity'], properties: { productId: Id, quantity: { type: 'integer', minimum: 1, maximum: 1000 } } },
      },
      paymentMethodId: Id,
    },
  },
  page: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 100 }, cursor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } } },
  id: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: Id } },
} as const

const encodeCursor = (seq: number) => Buffer.from(`o${seq}`).toString('base64url')
function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  const seq = Number(text.slice(1))
  if (!text.startsWith('o') || !Number.isSafeInteger(seq) || seq < 0) throw OrdersErrors.badCursor()
  return seq
}

const orderEntity = (o: Order) => ({ uid: { type: 'Order', id: o.id }, attrs: { owner: ref('User', o.owner), total: o.total, status: o.status }, parents: [] })
const publicOrder = ({ owner: _owner, ...rest }: Order) => rest

export function registerOrdersRoutes(app: SecureService & FastifyInstance, deps: { store: OrdersStore; clock: Clock; audit: AuditSink; defaultPageSize: number; maxItems: number }): void {
  const { store } = deps
  app.post<{ Body: PlaceOrderInput }>('/orders', { schema: { body: schemas.create } }, async (request, reply) => {
    const owner = request.auth.sub
    request.authorize('orders.create', { type: 'OrderBook', id: owner }, [{ uid: { type: 'OrderBook', id: owner }, attrs: { owner: ref('User', owner) }, parents: [] }])
    const event = { type: 'order.placed', actor: auditActor(request.auth), action: 'orders.create', requestId: String(request.id) }
    let order: Order
    try {
      order = await placeOrder({ app, store, clock: deps.clock, maxItems: deps.maxItems }, request, request.body)
    } catch (error) {
      deps.audit.emit({ ...event, resource: `OrderBook::"${owner}"`, ...auditOutcome(error), details: { items: request.body.items.length, paymentMethodId: request.body.paymentMethodId } })
      throw error
    }
    deps.audit.emit({
      ...event, resource: `Order::"${order.id}"`, outcome: 'success',
      details: { total: order.total, currency: order.currency, items: order.items.length, paymentMethodId: order.paymentMethodId, chargeId: order.chargeId },
    })
    request.log.info({ orderId: order.id, total: order.total }, 'order placed')
    return reply.code(201).send(publicOrder(order))
  })

  app.get<{ Querystring: { limit?: number; cursor?: string } }>('/orders', { schema: { querystring: schemas.page } }, async (request) => {
    // A client acting for itself (the reporting job) asks for the whole book; a user for their own.
    const everyone = request.auth.principal.type === 'Client'
    const book = everyone
      ? { uid: { type: 'OrderBook', id: 'all' }, attrs: {}, parents: [] }
      : { uid: { type: 'OrderBook', id: request.auth.sub }, attrs: { owner: ref('User', request.auth.sub) }, parents: [] }
    request.authorize('orders.list', book.uid, [book])
    const page = await store.list(everyone ? undefined : request.auth.sub, request.query.limit ?? deps.defaultPageSize, decodeCursor(request.query.cursor))
    return { items: page.items.map(publicOrder), nextCursor: page.more && page.lastSeq !== undefined ? encodeCursor(page.lastSeq) : null }
  })

  app.get<{ Params: { id: string } }>('/orders/:id', { schema: { params: schemas.id } }, async (request) => {
    const order = await store.get(request.params.id)
    request.authorize('orders.get', { type: 'Order', id: request.params.id }, { entities: order ? [orderEntity(order)] : [], denyAs: 'not-found' })
    if (!order) throw OrdersErrors.notFound()
    return publicOrder(order)
  })
}
