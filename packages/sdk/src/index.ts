// @bulwark/sdk: what a service imports. Subpaths keep each concern separate:
// `@bulwark/sdk/runtime`, `/svid`, `/policy`, `/vault`, `/audit`.
export { runComponent, type ComponentRuntime, type StartResult, type RunComponentOptions, type PeerHandle } from './runtime/index.ts'
