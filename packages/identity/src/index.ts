// @bulwark/identity: the OAuth 2.1 / OpenID Connect provider of the platform.
//
// @example
// const identity = await createIdentity(loadConfig(IdentityConfigSchema, { value: {} }), {
//   log, audit, svid, issuer: 'https://localhost:8443', trustDomain: 'bulwark.local',
//   database: paths.database('identity'), masterKey,
// })
// await identity.app.listen({ host: '127.0.0.1', port: 8605 })
export { createIdentity, type Identity, type IdentityDeps } from './identity.ts'
export { IdentityConfigSchema, type IdentityConfig } from './config.ts'
export { IdentityErrors } from './errors.ts'
export { seedDemo, SHOP_SCOPES, type DemoCredentials } from './seed.ts'
export { ACCESS_TOKEN_TYPE } from './provider/token-exchange.ts'
export { TOKEN_EXCHANGE_GRANT, DEVICE_CODE_GRANT } from './store/clients.ts'
