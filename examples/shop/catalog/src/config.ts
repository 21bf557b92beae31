// The catalog's section of config.json (`components.catalog`).
import { Type, type Static } from '@sinclair/typebox'

export const CatalogConfigSchema = Type.Object({
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  enabled: Type.Optional(Type.Boolean()),
  /** Serve the gRPC API (proto/catalog.proto) on this port too, over mTLS; absent: REST only. */
  grpcPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  /** SQLite file; default `<home>/data/catalog.db` (unused when the platform stores on PostgreSQL). */
  database: Type.Optional(Type.String({ minLength: 1 })),
  /** Insert the demo products when the catalog is empty. */
  seed: Type.Boolean({ default: true }),
  defaultPageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
}, { additionalProperties: false })

export type CatalogConfig = Static<typeof CatalogConfigSchema>
