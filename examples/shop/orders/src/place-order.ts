// Placing an order: prices come from the catalog (never from the client),
// the charge goes to payments over mTLS with a token exchanged for payments
// (RFC 8693; `act` = orders, then gateway), and the order is stored only
// once the charge succeeded.
import type { FastifyRequest } from 'fastify'
import type { Clock } from '@bulwark/core'
import { OrdersErrors } from './errors.ts'
import type { Order, OrderItem, OrdersStore } from './store.ts'
import type { SecureService } from '@bulwark/sdk/service'

export type PlaceOrderInput = { items: Array<{ productId: string; quantity: number }>; paymentMethodId: string }
type Product = { id: string; name: string; price: number; currency: string }

export type PlaceOrderDeps = { app: SecureService; store: OrdersStore; clock: Clock; maxItems: number }

async function priceItems(deps: PlaceOrderDeps, request: FastifyRequest, input: PlaceOrderInput): Promise<{ items: OrderItem[]; currency: string }> {
  const quantities = new Map<string, number>()
  for (const item of input.items) quantities.set(item.productId, (quantities.get(item.productId) ?? 0) + item.quantity)
  if (quantities.size > deps.maxItems) throw OrdersErrors.tooManyItems(`at most ${deps.maxItems} distinct products per order`)
  const items: OrderItem[] = []
  const currencies = new Set<string>()
  // Catalog reads are public: no user token travels to the catalog.
  const products = await Promise.all([...quantities.keys()].map(async (productId) => {
    const res = await deps.app.callService<Product>('catalog', { path: `/catalog/products/${encodeURIComponent(productId)}`, requestId: String(request.id) })
    if (res.status === 404 || res.status === 400) throw OrdersErrors.unknownProduct(`unknown product \`${productId}\``)
    if (res.status !== 200) throw OrdersErrors.catalogUnavailable(undefined, { cause: new Error(`catalog answered ${res.status}`) })
    // Another service's answer is input too (OWASP API10:2023): check its shape before pricing with it.
    const product = res.body
    if (!product || product.id !== productId || typeof product.name !== 'string' || !Number.isSafeInteger(product.price) || product.price < 0 || typeof product.currency !== 'string') {
      throw OrdersErrors.catalogUnavailable(undefined, { cause: new Error('catalog answered a malformed product') })
    }
    return product
  }))
  for (const product of products) {
    currencies.add(product.currency)
    items.push({ productId: product.id, name: product.name, quantity: quantities.get(product.id)!, unitPrice: product.price })
  }
  if (currencies.size !== 1) throw OrdersErrors.mixedCurrencies()
  return { items, currency: [...currencies][0]! }
}

export async function placeOrder(deps: PlaceOrderDeps, request: FastifyRequest, input: PlaceOrderInput): Promise<Order> {
  const { items, currency } = await priceItems(deps, request, input)
  const total = items.reduce((sum, item) => sum + item.unitPrice * item.quantity, 0)
  const id = deps.store.newId()
  const charge = await deps.app.callService<{ id: string; status: string; code?: string }>('payments', {
    method: 'POST', path: '/internal/charges', requestId: String(request.id), subjectToken: request.accessToken,
    body: { paymentMethodId: input.paymentMethodId, amount: total, currency, orderId: id },
  })
  if (charge.status === 404) throw OrdersErrors.unknownPaymentMethod(`unknown payment method \`${input.paymentMethodId}\``)
  if (charge.status === 400 || charge.status === 409) throw OrdersErrors.paymentRefused(`payment refused: \`${String(charge.body?.code ?? 'error')}\``)
  if (charge.status !== 201 && charge.status !== 200) throw OrdersErrors.paymentsUnavailable(undefined, { cause: new Error(`payments answered ${charge.status}`) })
  if (charge.body.status !== 'succeeded') throw OrdersErrors.paymentRefused('payment declined')
  const order: Order = {
    id, owner: request.auth.sub, status: 'paid', items, total, currency,
    paymentMethodId: input.paymentMethodId, chargeId: charge.body.id, createdAt: new Date(deps.clock.now()).toISOString(),
  }
  await deps.store.insert(order)
  return order
}
