export * from './fake-identity.ts'
export * from './test-runtime.ts'
export * from './policies.ts'
