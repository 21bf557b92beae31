// The payments process: `bulwark up` forks this file.
import { loadConfig } from '@bulwark/core'
import { runComponent } from '@bulwark/sdk/runtime'
import { PaymentsConfigSchema, createPayments } from './index.ts'

void runComponent({
  name: 'payments',
  async start(rt) {
    const payments = await createPayments(loadConfig(PaymentsConfigSchema, { value: rt.config, source: 'payments' }), { rt })
    return { app: payments.app, close: payments.close }
  },
})
