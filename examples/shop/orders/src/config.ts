// The orders service's section of config.json (`components.orders`).
import { Type, type Static } from '@sinclair/typebox'

export const OrdersConfigSchema = Type.Object({
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  enabled: Type.Optional(Type.Boolean()),
  database: Type.Optional(Type.String({ minLength: 1 })),
  defaultPageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  /** Distinct products in one order. */
  maxItems: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
}, { additionalProperties: false })

export type OrdersConfig = Static<typeof OrdersConfigSchema>
