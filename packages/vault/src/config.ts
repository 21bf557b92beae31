// The vault's section of config.json. Limits, key sources and access rules.
// BULWARK_MASTER_KEY_FILE is the only environment input, read here.
import { Type, type Static } from '@sinclair/typebox'
import { loadConfig } from '@bulwark/core'

export const AclRuleSchema = Type.Object({
  /** SPIFFE ID pattern: `*` matches within a segment, `{service}` captures the service name. */
  principal: Type.String({ minLength: 1, maxLength: 512 }),
  /** When set, `{service}` must be one of these. */
  services: Type.Optional(Type.Array(Type.String({ maxLength: 64 }))),
  /** `kv.read`, `transit.encrypt`, `kv.*`, `*`, … */
  actions: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1 }),
  /** `secret:<glob>`, `transit:<glob>`, `system:<name>`; `*` stays in a segment, `**` crosses them. */
  resources: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { minItems: 1 }),
}, { additionalProperties: false })

export type AclRule = Static<typeof AclRuleSchema>

export const VaultConfigSchema = Type.Object({
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  enabled: Type.Optional(Type.Boolean()),
  trustDomain: Type.String({ default: 'bulwark.local', pattern: '^[a-z0-9._-]{1,255}$' }),
  /** SQLite file; default `<home>/data/vault.db`. */
  database: Type.Optional(Type.String({ minLength: 1 })),
  /** Master key file (base64 of 32 bytes, mode 0600); default `<home>/keys/master.key`. */
  masterKeyFile: Type.Optional(Type.String({ minLength: 1 })),
  /** Create the master key when neither it nor a keyring exists yet (first start). */
  createMasterKey: Type.Boolean({ default: true }),
  maxPathLength: Type.Integer({ minimum: 16, maximum: 1024, default: 256 }),
  /** Serialized JSON size of one secret's data. */
  maxValueBytes: Type.Integer({ minimum: 64, maximum: 1048576, default: 65536 }),
  maxVersions: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  /** Transit plaintext / input size, bytes (before base64). */
  maxTransitBytes: Type.Integer({ minimum: 64, maximum: 1048576, default: 32768 }),
  /** Transit keys get a new version on their own this often (like Vault's `auto_rotate_period`); 0 turns it off. */
  transitAutoRotateDays: Type.Integer({ minimum: 0, maximum: 3650, default: 30 }),
  /** Opened secret versions kept in memory (verified against the stored bytes on each hit); 0 disables. */
  readCacheEntries: Type.Integer({ minimum: 0, maximum: 100000, default: 2048 }),
  maxWaitSeconds: Type.Integer({ minimum: 1, maximum: 300, default: 60 }),
  /** Writes committed in one fsync at most. */
  groupCommitMax: Type.Integer({ minimum: 1, maximum: 10000, default: 512 }),
  /** Shop services for the default rules (`kv/shop/<self>/*`, transit `shop-*`). */
  shopServices: Type.Array(Type.String(), { default: ['users', 'catalog', 'orders', 'payments'] }),
  /** Replaces the default rules entirely. */
  rules: Type.Optional(Type.Array(AclRuleSchema)),
  /** A JSON file `{rules:[…]}` that replaces the default rules. */
  rulesFile: Type.Optional(Type.String({ minLength: 1 })),
  /** Decide with Cedar instead: a policy file such as packages/vault/cedar/vault.cedar. */
  cedarPolicyFile: Type.Optional(Type.String({ minLength: 1 })),
}, { additionalProperties: false })

export type VaultConfig = Static<typeof VaultConfigSchema>

/** Validates a section (filling defaults), with BULWARK_MASTER_KEY_FILE from the environment. */
export function loadVaultConfig(value: unknown, environment: NodeJS.ProcessEnv = process.env): VaultConfig {
  return loadConfig(VaultConfigSchema, { value, source: 'vault', env: { BULWARK_MASTER_KEY_FILE: 'masterKeyFile' }, environment }) as VaultConfig
}
