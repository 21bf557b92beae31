// Reads the sidecar's settings from its component section (defaults filled,
// every problem named at once, frozen).
import { loadConfig } from '@bulwark/core'
import { SidecarComponentSchema, type SidecarSettings } from './config.ts'

export function loadSidecarSettings(section: Record<string, unknown>, component: string): SidecarSettings {
  return loadConfig(SidecarComponentSchema, { value: section, source: `components.${component}` }).sidecar
}
