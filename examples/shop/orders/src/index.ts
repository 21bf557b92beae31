// @bulwark/shop-orders: orders priced from the catalog and charged through
// payments with token exchange.
import type { Authorizer } from '@bulwark/core'
import type { ComponentRuntime } from '@bulwark/sdk/runtime'
import { createSecureService, type SecureService } from '@bulwark/sdk/service'
import type { OrdersConfig } from './config.ts'
import { registerOrdersRoutes } from './routes.ts'
import { openOrdersStore, type OrdersStore } from './store.ts'

export { OrdersConfigSchema, type OrdersConfig } from './config.ts'
export { OrdersErrors } from './errors.ts'

export type OrdersDeps = { rt: ComponentRuntime; authorizer?: Authorizer }
export type Orders = { app: SecureService; store: OrdersStore; close(): Promise<void> }

export async function createOrders(config: OrdersConfig, deps: OrdersDeps): Promise<Orders> {
  const { rt } = deps
  const store = await openOrdersStore({ sqlitePath: config.database ?? rt.paths.database('orders'), storage: rt.bootstrap.storage })
  const app = await createSecureService(rt, { name: 'orders', ...(deps.authorizer ? { authorizer: deps.authorizer } : {}) })
  registerOrdersRoutes(app, { store, clock: rt.clock, audit: rt.audit, defaultPageSize: config.defaultPageSize, maxItems: config.maxItems })
  return { app, store, close: async () => store.close() }
}
