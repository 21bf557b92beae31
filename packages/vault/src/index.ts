// @bulwark/vault: secrets (KV v2), envelope encryption and transit keys.
//
// @example
// const vault = await createVault(loadVaultConfig({}), { log, audit, clock: systemClock, home, https: mtlsServerOptions(svid) })
// await vault.app.listen({ host: '127.0.0.1', port: 8604 })
export { createVault, type Vault, type VaultDeps } from './server.ts'
export { VaultConfigSchema, loadVaultConfig, type VaultConfig, type AclRule } from './config.ts'
export { VaultErrors } from './errors.ts'
export { createRuleAuthorizer, defaultRules, globMatch, KV_ACTIONS, TRANSIT_ACTIONS, SYSTEM_ACTIONS } from './acl.ts'
export type { KmsHook } from './keyring.ts'
export { createVaultEntities } from './cedar-entities.ts'
