// @bulwark/shop-payments: payment methods (card numbers encrypted through the
// vault's transit engine, CVC never stored) and the internal charge route.
import type { Authorizer } from '@bulwark/core'
import type { ComponentRuntime } from '@bulwark/sdk/runtime'
import { createSecureService, type SecureService } from '@bulwark/sdk/service'
import type { PaymentsConfig } from './config.ts'
import { registerPaymentsRoutes } from './routes.ts'
import { openPaymentsStore, type PaymentsStore } from './store.ts'
import { createTransit, type Transit } from './transit.ts'

export { PaymentsConfigSchema, type PaymentsConfig } from './config.ts'
export { PaymentsErrors } from './errors.ts'
export { luhnValid, notExpired, brandOf } from './card.ts'

export type PaymentsDeps = { rt: ComponentRuntime; authorizer?: Authorizer; transit?: Transit }
export type Payments = { app: SecureService; store: PaymentsStore; close(): Promise<void> }

export async function createPayments(config: PaymentsConfig, deps: PaymentsDeps): Promise<Payments> {
  const { rt } = deps
  const vault = deps.transit ? undefined : rt.peer('vault')
  const transit = deps.transit ?? createTransit({ url: vault!.url, dispatcher: vault!.dispatcher })
  const store = await openPaymentsStore({ sqlitePath: config.database ?? rt.paths.database('payments'), storage: rt.bootstrap.storage })
  const app = await createSecureService(rt, { name: 'payments', ...(deps.authorizer ? { authorizer: deps.authorizer } : {}) })
  let keyReady: Promise<void> | undefined
  // The card key is created on first use (the vault may start after us); creation is idempotent.
  const ensureKey = () => (keyReady ??= transit.createKey(config.cardKey).catch((error) => { keyReady = undefined; throw error }))
  const lazyTransit: Transit = {
    createKey: (name) => transit.createKey(name),
    encrypt: async (...args) => { await ensureKey(); return await transit.encrypt(...args) },
    decrypt: async (...args) => { await ensureKey(); return await transit.decrypt(...args) },
  }
  registerPaymentsRoutes(app, { store, transit: lazyTransit, clock: rt.clock, audit: rt.audit, cardKey: config.cardKey, maxMethodsPerUser: config.maxMethodsPerUser, maxChargeAmount: config.maxChargeAmount })
  return { app, store, close: async () => store.close() }
}
