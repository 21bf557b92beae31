// @bulwark/shop-catalog: the demo shop's product catalog.
//
// @example
// runComponent({ name: 'catalog', start: async (rt) => createCatalog(loadConfig(CatalogConfigSchema, { value: rt.config }), { rt }) })
import type { Authorizer } from '@bulwark/core'
import type { ComponentRuntime } from '@bulwark/sdk/runtime'
import { createSecureService, type SecureService } from '@bulwark/sdk/service'
import type { CatalogConfig } from './config.ts'
import { registerCatalogRoutes } from './routes.ts'
import { seedCatalog } from './seed.ts'
import { openCatalogStore, type CatalogStore } from './store.ts'

export { CatalogConfigSchema, type CatalogConfig } from './config.ts'
export { CatalogErrors } from './errors.ts'
export { SEED_PRODUCTS } from './seed.ts'

export type CatalogDeps = { rt: ComponentRuntime; authorizer?: Authorizer }
export type Catalog = { app: SecureService; store: CatalogStore; close(): Promise<void> }

export async function createCatalog(config: CatalogConfig, deps: CatalogDeps): Promise<Catalog> {
  const { rt } = deps
  const store = await openCatalogStore({ sqlitePath: config.database ?? rt.paths.database('catalog'), storage: rt.bootstrap.storage })
  if (config.seed) {
    const seeded = await seedCatalog(store, rt.clock.now())
    if (seeded > 0) rt.log.info({ count: seeded }, 'seeded the catalog')
  }
  const app = await createSecureService(rt, { name: 'catalog', ...(deps.authorizer ? { authorizer: deps.authorizer } : {}) })
  registerCatalogRoutes(app, { store, clock: rt.clock, defaultPageSize: config.defaultPageSize })
  return { app, store, close: () => store.close() }
}
