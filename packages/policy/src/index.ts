// @bulwark/policy: the policy component's public surface.
export { createPolicyService, type PolicyService, type PolicyServiceDeps } from './server.ts'
export { PolicyConfigSchema, type PolicyConfig } from './config.ts'
export { PolicyErrors } from './errors.ts'
export { ADMIN_ROUTES, checkOperatorAccess } from './guard.ts'
export { SCHEMA_PATH, DEFAULT_POLICIES_DIR, FIXTURES_DIR, readDefaultSchema, readDefaultPolicies } from './defaults.ts'
export type { DiffReport, DiffSample } from './diff.ts'
