// @bulwark/testkit: helpers for tests only (never imported by runtime code).
export * from './test-ca.ts'
export * from './ports.ts'
export * from './temp.ts'
export * from './k8s-issuer.ts'
export * from './postgres.ts'
