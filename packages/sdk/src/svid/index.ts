// @bulwark/sdk/svid: how a workload gets and keeps its X.509-SVID.
//
// @example
//   const svid = await obtainSvid({ caUrl, rootPem, joinToken, spiffeId })
//   const source = createSvidSource(svid)
//   const rotation = startSvidRotation({ caUrl, source, log })
//   const watcher = startBundleWatcher({ caUrl, source, revocation: createRevocationSet(), log })
export { obtainSvid, SvidRequestError, type ObtainSvidOptions } from './obtain.ts'
export { startSvidRotation, renewSvid, servingNamesOf, type SvidRotationOptions } from './rotation.ts'
export { startBundleWatcher, type BundleWatcherOptions, type BundleResponse } from './bundle-watcher.ts'
export { createKeyAndCsr, type KeyAndCsr, type CsrRequest } from './csr.ts'
export { caSpiffeIdFor, svidFromResponse, type SvidResponse } from './response.ts'
export { createConnectionSweeper, type ConnectionSweeper } from './sweeper.ts'
