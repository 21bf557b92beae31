// Payments routes. `/payments/methods` is reached through the gateway
// (`/api/payments/methods`); `/internal/charges` never is: the `call` policy
// decides which workload may reach it, and the `payments.charge` policy
// demands a token whose `act` shows the orders service (token exchange), on a
// payment method the user owns. The CVC is checked for shape and dropped: it
// is not stored, logged, audited or returned. Adding a payment method
// (`payment_method.added`), deleting one (`payment_method.deleted`) and
// charging (`payment.charged`, a declined card is outcome `failure`) are
// audited with ids, brand and amounts only: never the card number, its last
// digits, the expiry or the CVC. Deleting someone else's method answers 404,
// like a method that does not exist (OWASP API1:2023).
import type { FastifyInstance } from 'fastify'
import type { AuditSink, Clock } from '@bulwark/core'
import { brandOf, luhnValid, notExpired } from './card.ts'
import { PaymentsErrors } from './errors.ts'
import type { Charge, PaymentsStore, StoredMethod } from './store.ts'
import type { Transit } from './transit.ts'
import { auditActor, auditOutcome, ref } from '@bulwark/sdk/service'

const PaymentMethodId = { type: 'string', pattern: '^pm_[A-Za-z0-9_-]{1,64}$' }

export const schemas = {
  createMethod: {
    type: 'object', additionalProperties: false, required: ['cardNumber', 'expMonth', 'expYear', 'cvc'],
    properties: {
      cardNumber: { type: 'string', pattern: '^[0-9]{12,19}$' },
      expMonth: { type: 'integer', minimum: 1, maximum: 12 },
      expYear: { type: 'integer', minimum: 2000, maximum: 2100 },
      cvc: { type: 'string', pattern: '^[0-9]{3,4}$' },
    },
  },
  charge: {
    type: 'object', additionalProperties: false, required: ['paymentMethodId', 'amount', 'currency', 'orderId'],
    properties: {
      paymentMethodId: PaymentMethodId,
      amount: { type: 'integer', minimum: 1 },
      currency: { type: 'string', enum: ['USD', 'EUR'] },
      orderId: { type: 'string', pattern: '^ord_[A-Za-z0-9_-]{1,64}$' },
    },
  },
  methodId: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: PaymentMethodId } },
} as const

type CreateMethod = { cardNumber: string; expMonth: number; expYear: number; cvc: string }
type ChargeBody = { paymentMethodId: string; amount: number; currency: string; orderId: string }

const publicMethod = (m: StoredMethod) => ({ id: m.id, last4: m.last4, brand: m.brand, expMonth: m.expMonth, expYear: m.expYear, createdAt: m.createdAt })
const methodEntity = (m: StoredMethod) => ({ uid: { type: 'PaymentMethod', id: m.id }, attrs: { owner: ref('User', m.owner) }, parents: [] })
const wallet = (owner: string) => ({ uid: { type: 'Wallet', id: owner }, attrs: { owner: ref('User', owner) }, parents: [] })

export type PaymentsRouteDeps = { store: PaymentsStore; transit: Transit; clock: Clock; audit: AuditSink; cardKey: string; maxMethodsPerUser: number; maxChargeAmount: number }

export function registerPaymentsRoutes(app: FastifyInstance, deps: PaymentsRouteDeps): void {
  const { store } = deps
  app.post<{ Body: CreateMethod }>('/payments/methods', { schema: { body: schemas.createMethod } }, async (request, reply) => {
    const owner = request.auth.sub
    request.authorize('payments.createMethod', { type: 'Wallet', id: owner }, [wallet(owner)])
    const { cardNumber, expMonth, expYear } = request.body
    const event = { type: 'payment_method.added', actor: auditActor(request.auth), action: 'payments.createMethod', requestId: String(request.id) }
    let method: StoredMethod
    try {
      if (!luhnValid(cardNumber)) throw PaymentsErrors.cardInvalid('card number fails the Luhn check')
      if (!notExpired(expMonth, expYear, deps.clock.now())) throw PaymentsErrors.cardExpired()
      // A cheap early refusal before the vault call; addMethod enforces the cap atomically.
      if (await store.countMethods(owner) >= deps.maxMethodsPerUser) throw PaymentsErrors.tooManyMethods(`at most ${deps.maxMethodsPerUser} payment methods per user`)
      // Bound to the owner: a ciphertext copied to another user's row does not decrypt.
      const cardCiphertext = await deps.transit.encrypt(deps.cardKey, cardNumber, `pm-owner:${owner}`)
      method = await store.addMethod({ owner, cardCiphertext, last4: cardNumber.slice(-4), brand: brandOf(cardNumber), expMonth, expYear }, deps.clock.now(), deps.maxMethodsPerUser)
    } catch (error) {
      deps.audit.emit({ ...event, resource: `Wallet::"${owner}"`, ...auditOutcome(error) })
      throw error
    }
    deps.audit.emit({ ...event, resource: `PaymentMethod::"${method.id}"`, outcome: 'success', details: { brand: method.brand } })
    request.log.info({ paymentMethodId: method.id }, 'payment method added')
    return reply.code(201).send(publicMethod(method))
  })

  app.get('/payments/methods', async (request) => {
    const owner = request.auth.sub
    request.authorize('payments.listMethods', { type: 'Wallet', id: owner }, [wallet(owner)])
    return { items: (await store.listMethods(owner, deps.maxMethodsPerUser)).map(publicMethod) }
  })

  app.delete<{ Params: { id: string } }>('/payments/methods/:id', { schema: { params: schemas.methodId } }, async (request, reply) => {
    const { id } = request.params
    const method = await store.getMethod(id)
    const event = { type: 'payment_method.deleted', actor: auditActor(request.auth), action: 'payments.deleteMethod', resource: `PaymentMethod::"${id}"`, requestId: String(request.id) }
    let allowed = false
    try {
      // Someone else's method is denied as a 404, the same answer as a missing (or already deleted) one.
      request.authorize('payments.deleteMethod', { type: 'PaymentMethod', id }, { entities: method ? [methodEntity(method)] : [], denyAs: 'not-found' })
      allowed = true
      // A concurrent delete may have won since the read: the update then changes nothing.
      if (!method || !await store.deleteMethod(id, method.owner, deps.clock.now())) throw PaymentsErrors.methodNotFound()
    } catch (error) {
      deps.audit.emit({ ...event, ...(method && !allowed ? { outcome: 'denied' as const, reason: 'BW_AUTHZ_DENIED' } : auditOutcome(error)) })
      throw error
    }
    deps.audit.emit({ ...event, outcome: 'success', details: { brand: method.brand } })
    request.log.info({ paymentMethodId: id }, 'payment method deleted')
    return reply.code(204).send()
  })

  app.post<{ Body: ChargeBody }>('/internal/charges', { schema: { body: schemas.charge } }, async (request, reply) => {
    const { paymentMethodId, amount, currency, orderId } = request.body
    const method = await store.getMethod(paymentMethodId)
    request.authorize('payments.charge', { type: 'PaymentMethod', id: paymentMethodId }, {
      entities: method ? [methodEntity(method)] : [],
      denyAs: 'not-found',
    })
    if (!method) throw PaymentsErrors.methodNotFound()
    // The user is the actor; the workload that asked (orders) is in the details.
    const event = { type: 'payment.charged', actor: auditActor(request.auth), action: 'payments.charge', resource: `PaymentMethod::"${paymentMethodId}"`, requestId: String(request.id) }
    const asked = { orderId, amount, currency, via: request.auth.callerService ?? null }
    const sameCharge = (previous: Charge) => {
      if (previous.paymentMethodId !== paymentMethodId || previous.amount !== amount || previous.owner !== method.owner) throw PaymentsErrors.chargeConflict()
      return previous
    }
    let charge: Charge
    try {
      if (amount > deps.maxChargeAmount) throw PaymentsErrors.amountTooLarge()
      const previous = await store.chargeForOrder(orderId)
      // The same charge asked again: nothing new happened, nothing new to audit.
      if (previous) return reply.code(200).send(sameCharge(previous))
      if (!notExpired(method.expMonth, method.expYear, deps.clock.now())) throw PaymentsErrors.cardExpired()
      // A real processor would receive the card here, with orderId as its idempotency key; proving it decrypts is our stand-in.
      const card = await deps.transit.decrypt(deps.cardKey, method.cardCiphertext, `pm-owner:${method.owner}`)
      const status = luhnValid(card) ? 'succeeded' : 'failed'
      // Another request (at this replica or another) may have charged the order since the read: the unique order_id keeps one.
      const recorded = await store.addCharge({ orderId, paymentMethodId, owner: method.owner, amount, currency, status }, deps.clock.now())
      if (!recorded.created) return reply.code(200).send(sameCharge(recorded.charge))
      charge = recorded.charge
    } catch (error) {
      deps.audit.emit({ ...event, ...auditOutcome(error), details: asked })
      throw error
    }
    deps.audit.emit({
      ...event, outcome: charge.status === 'succeeded' ? 'success' : 'failure', ...(charge.status === 'succeeded' ? {} : { reason: 'card_declined' }),
      details: { ...asked, chargeId: charge.id },
    })
    request.log.info({ chargeId: charge.id, orderId, via: request.auth.callerService }, 'charge recorded')
    return reply.code(201).send(charge)
  })
}
