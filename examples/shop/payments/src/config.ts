// The payments service's section of config.json (`components.payments`).
import { Type, type Static } from '@sinclair/typebox'

export const PaymentsConfigSchema = Type.Object({
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  enabled: Type.Optional(Type.Boolean()),
  database: Type.Optional(Type.String({ minLength: 1 })),
  /** Transit key that encrypts card numbers (the vault lets `payments` use `payments-*`). */
  cardKey: Type.String({ pattern: '^payments-[a-z0-9-]{1,60}$', default: 'payments-cards' }),
  /** Payment methods one user may hold. */
  maxMethodsPerUser: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
  /** Largest single charge, in cents. */
  maxChargeAmount: Type.Integer({ minimum: 1, default: 10_000_000 }),
}, { additionalProperties: false })

export type PaymentsConfig = Static<typeof PaymentsConfigSchema>
