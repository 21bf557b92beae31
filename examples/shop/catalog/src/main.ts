// The catalog process: `bulwark up` forks this file.
import { loadConfig } from '@bulwark/core'
import { runComponent } from '@bulwark/sdk/runtime'
import { CatalogConfigSchema, createCatalog } from './index.ts'

void runComponent({
  name: 'catalog',
  async start(rt) {
    const catalog = await createCatalog(loadConfig(CatalogConfigSchema, { value: rt.config, source: 'catalog' }), { rt })
    return { app: catalog.app, close: catalog.close }
  },
})
