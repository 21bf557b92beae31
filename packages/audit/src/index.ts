// @bulwark/audit: the audit service.
//
// @example
//   const service = createAuditService(loadConfig(AuditConfigSchema, { value: {} }), {
//     log, metrics, health, clock: systemClock, trustDomain: 'bulwark.local', dataDir, https: mtlsServerOptions(svid),
//   })
//   await service.app.listen({ host: '127.0.0.1', port: 8602 })
export { createAuditService, type AuditService, type AuditServiceDeps } from './service.ts'
export { AuditConfigSchema, type AuditConfig } from './config.ts'
export { AuditErrors } from './errors.ts'
export { createIdentityLocker, type LockAccount } from './responders.ts'
export { PUBLIC_KEY_FILE, SIGNING_KEY_FILE } from './signing-key.ts'
export { mayWriteType } from './type-policy.ts'
export type { Alert } from './alerts.ts'
export type { Block, BlockFeed } from './blocks.ts'
export type { VerifyReport } from './verify-store.ts'
export type { Detection } from './detect/types.ts'
