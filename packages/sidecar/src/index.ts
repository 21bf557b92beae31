// @bulwark/sidecar: a service in any language joins the platform behind this
// sidecar (docs/sidecar.md). The process entry is `@bulwark/sidecar/main`.
export { createSidecar, type Sidecar, type SidecarOptions } from './sidecar.ts'
export { loadSidecarSettings } from './settings.ts'
export { SidecarComponentSchema, SidecarSettingsSchema, SidecarRouteSchema, type SidecarSettings, type SidecarRoute, type SidecarComponentConfig } from './config.ts'
export { SidecarErrors } from './errors.ts'
