// The orders process: `bulwark up` forks this file.
import { loadConfig } from '@bulwark/core'
import { runComponent } from '@bulwark/sdk/runtime'
import { OrdersConfigSchema, createOrders } from './index.ts'

void runComponent({
  name: 'orders',
  async start(rt) {
    const orders = await createOrders(loadConfig(OrdersConfigSchema, { value: rt.config, source: 'orders' }), { rt })
    return { app: orders.app, close: orders.close }
  },
})
