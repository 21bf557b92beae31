// @bulwark/ca: the workload certificate authority. Library surface for
// `bulwark init` (key material, operator certificate) and the CA service.
//
// @example
//   const paths = homePaths('.bulwark')
//   await initCaMaterial(paths, { trustDomain: 'bulwark.local' })
//   await issueOperatorCertificate(paths, { trustDomain: 'bulwark.local' })
export { initCaMaterial, issueOperatorCertificate, loadIntermediate, rotateIntermediateMaterial, type IntermediateSigner } from './material.ts'
export { createCa, caServerOptions, type Ca, type CaDeps } from './server.ts'
export { startCa, type RunningCa } from './serve.ts'
export { CaConfigSchema, type CaConfig } from './config.ts'
export { CaErrors } from './errors.ts'
export { checkCsr, type CsrGrant, type CsrPolicy } from './csr-policy.ts'
export { hashToken, JOIN_TOKEN_PREFIX, type Authority, type IssuedCert } from './authority.ts'
