// `.bulwark/config.json`: the platform-wide settings and one section per
// component. Each component checks its own section strictly at boot; this
// schema checks the frame (names, ports) so `bulwark up` can fail fast.
import { Type, type Static } from '@sinclair/typebox'

export const COMPONENT_ORDER = ['ca', 'audit', 'policy', 'vault', 'identity', 'users', 'catalog', 'orders', 'payments', 'console', 'gateway'] as const
export type ComponentName = (typeof COMPONENT_ORDER)[number]
/** The demo shop's services: started only by `up --demo`. */
export const SHOP_COMPONENTS: readonly ComponentName[] = ['users', 'catalog', 'orders', 'payments']

export const DEFAULT_PORTS: Record<ComponentName, number> = {
  ca: 8601, audit: 8602, policy: 8603, vault: 8604, identity: 8605,
  users: 8611, catalog: 8612, orders: 8613, payments: 8614, console: 8606, gateway: 8443,
}

const Port = Type.Integer({ minimum: 0, maximum: 65535 })

export const ComponentSectionSchema = Type.Object({
  port: Port,
  enabled: Type.Boolean({ default: true }),
}, { additionalProperties: true })

export const PlatformConfigSchema = Type.Object({
  trustDomain: Type.String({ pattern: '^[a-z0-9._-]{1,255}$', default: 'bulwark.local' }),
  /** Interface the internal components listen on. Loopback unless deployed otherwise. */
  internalHost: Type.String({ default: '127.0.0.1', minLength: 1 }),
  /** Public hostname of the gateway, used in the issuer URL and the edge certificate. */
  publicHost: Type.String({ default: 'localhost', minLength: 1 }),
  /** Lifetime of workload certificates (SVIDs), seconds. */
  svidTtlSeconds: Type.Integer({ minimum: 30, maximum: 86400, default: 3600 }),
  components: Type.Record(Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }), ComponentSectionSchema, { default: {} }),
}, { additionalProperties: false })

export type PlatformConfig = Static<typeof PlatformConfigSchema>

export function defaultPlatformConfig(overrides: { gatewayPort?: number; basePort?: number } = {}): PlatformConfig {
  const components: PlatformConfig['components'] = {}
  let offset = 0
  for (const name of COMPONENT_ORDER) {
    let port = DEFAULT_PORTS[name]
    if (name === 'gateway' && overrides.gatewayPort !== undefined) port = overrides.gatewayPort
    else if (name !== 'gateway' && overrides.basePort !== undefined) port = overrides.basePort + offset++
    components[name] = { port, enabled: true }
  }
  return { trustDomain: 'bulwark.local', internalHost: '127.0.0.1', publicHost: 'localhost', svidTtlSeconds: 3600, components }
}

/** The URL of a component as reachable by its peers. */
export function componentUrl(config: PlatformConfig, name: string): string {
  const section = config.components[name]
  if (!section) throw new TypeError(`unknown component \`${name}\``)
  if (name === 'gateway') return gatewayUrl(config)
  const host = config.internalHost.includes(':') ? `[${config.internalHost}]` : config.internalHost
  return `https://${host}:${section.port}`
}

export function gatewayUrl(config: PlatformConfig): string {
  return `https://${config.publicHost}:${config.components.gateway?.port ?? 8443}`
}
