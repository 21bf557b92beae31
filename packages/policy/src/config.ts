// The policy service's section of config.json.
import { Type, type Static } from '@sinclair/typebox'

export const PolicyConfigSchema = Type.Object({
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  enabled: Type.Optional(Type.Boolean()),
  trustDomain: Type.String({ default: 'bulwark.local', pattern: '^[a-z0-9._-]{1,255}$' }),
  /** SQLite file; default `<home>/data/policy.db`. */
  database: Type.Optional(Type.String({ minLength: 1 })),
  /** Cedar schema file; default the packaged `schema/bulwark.cedarschema`. */
  schemaFile: Type.Optional(Type.String({ minLength: 1 })),
  /** Folder of `.cedar` files seeded as version 1 on first start; default the packaged `policies/`. */
  seedPoliciesDir: Type.Optional(Type.String({ minLength: 1 })),
  /** Operator certificate names allowed on the admin API (`spiffe://<td>/operator/<name>`). */
  operators: Type.Array(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), { default: ['admin'], minItems: 1 }),
  /** Longest `?wait=` a distribution request may hold, seconds. */
  maxWaitSeconds: Type.Integer({ minimum: 1, maximum: 300, default: 60 }),
  /** Decisions kept for dry-run replay (oldest pruned). */
  decisionLogMax: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 100_000 }),
  /** Decisions one diff replays at most (newest first). */
  replayLimit: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 20_000 }),
  /** Changed decisions returned as samples by a diff. */
  diffSamples: Type.Integer({ minimum: 0, maximum: 1000, default: 20 }),
  /** Largest policy set accepted, bytes of Cedar text. */
  maxPolicyBytes: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 1024 * 1024 }),
}, { additionalProperties: false })

export type PolicyConfig = Static<typeof PolicyConfigSchema>
