// What the bootstrap's `config` carries for the user's services, and what the
// platform derives from them: a service gets no supervisor settings (its
// command, env, … are how it was started, not its config), and identity
// learns which services the gateway routes to, so the gateway may exchange a
// user's token for one addressed to them (RFC 8693; nobody else may).
import { isServiceRoute, type PlatformConfig } from '@bulwark/core/base'
import { isUserService } from './components.ts'

// What the supervisor alone reads; `sidecar` is kept: `bulwark sidecar` (the component itself for such a service) reads it.
const SUPERVISOR_KEYS = new Set(['command', 'cwd', 'env', 'replicas'])

/** Services of the user's that a gateway route (`prefix` entry) targets. */
export function routedServices(config: PlatformConfig): string[] {
  const routes = (config.components.gateway as { routes?: unknown } | undefined)?.routes
  if (!Array.isArray(routes)) return []
  return [...new Set(routes.filter(isServiceRoute).map((r) => r.service).filter((name) => isUserService(config, name)))]
}

/** `section` (minus port/enabled) as the component `name` should see it. */
export function serviceBootstrapConfig(config: PlatformConfig, name: string, section: Record<string, unknown>): Record<string, unknown> {
  // `replicas` is the supervisor's; a component's strict schema would refuse it.
  if (!isUserService(config, name)) section = Object.fromEntries(Object.entries(section).filter(([key]) => key !== 'replicas'))
  if (isUserService(config, name)) return Object.fromEntries(Object.entries(section).filter(([key]) => !SUPERVISOR_KEYS.has(key)))
  if (name === 'identity') {
    const routed = routedServices(config)
    if (routed.length > 0) return { ...section, routedServices: routed }
  }
  return section
}
