// @bulwark/ca: the workload certificate authority. Library surface for
// `bulwark init` (key material, operator certificate) and the CA service.
//
// @example
//   const paths = homePaths('.bulwark')
//   await initCaMaterial(paths, { trustDomain: 'bulwark.local' })
//   await issueOperatorCertificate(paths, { trustDomain: 'bulwark.local' })
export { initCaMaterial, issueOperatorCertificate, loadIntermediate, rotateIntermediateMaterial, type IntermediateSigner } from './material.ts'
