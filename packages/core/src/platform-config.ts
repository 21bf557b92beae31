// `.bulwark/config.json`: the platform-wide settings and one section per
// component. Each component checks its own section strictly at boot; this
// schema checks the frame (names, ports) so `bulwark up` can fail fast.
import { Type, type Static } from '@sinclair/typebox'
import { ConfigError, loadConfig, type ConfigIssue } from './config.ts'
import { checkPostgresUrl, postgresUrlHasPassword } from './postgres-url.ts'

export const COMPONENT_ORDER = ['ca', 'audit', 'policy', 'vault', 'identity', 'users', 'catalog', 'orders', 'payments', 'console', 'gateway'] as const
export type ComponentName = (typeof COMPONENT_ORDER)[number]
/** The demo shop's services: started only by `up --demo`. */
export const SHOP_COMPONENTS: readonly ComponentName[] = ['users', 'catalog', 'orders', 'payments']

export const DEFAULT_PORTS: Record<ComponentName, number> = {
  ca: 8601, audit: 8602, policy: 8603, vault: 8604, identity: 8605,
  users: 8611, catalog: 8612, orders: 8613, payments: 8614, console: 8606, gateway: 8443,
}

/** Components that also serve gRPC (on their own mTLS listener, `grpcPort`), and its default port. */
export const DEFAULT_GRPC_PORTS: Partial<Record<ComponentName, number>> = { catalog: 8622 }

const Port = Type.Integer({ minimum: 0, maximum: 65535 })

export const ComponentSectionSchema = Type.Object({
  port: Port,
  /** A second mTLS listener for gRPC (the sdk's `createSecureGrpcServer`); peers get it as `grpcUrl`. */
  grpcPort: Type.Optional(Port),
  enabled: Type.Boolean({ default: true }),
  /** Processes of this component (PostgreSQL storage only above 1): consecutive ports from `port`; the gateway's share `port`. */
  replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
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
  /**
   * Where components keep their state. Absent: one embedded SQLite file each.
   * `BULWARK_DATABASE_URL` (read by the CLI only) wins over `postgres.url`.
   */
  storage: Type.Optional(Type.Object({
    postgres: Type.Optional(Type.Object({
      /** `postgres://user@host:port/database`, without a password (refused at load). */
      url: Type.String({ pattern: '^postgres(ql)?://', maxLength: 2048 }),
      /** File holding the password, mode 0600 or 0400. */
      passwordFile: Type.Optional(Type.String({ minLength: 1 })),
    }, { additionalProperties: false })),
  }, { additionalProperties: false })),
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
  // gRPC listeners come after the REST ports (a `--base-port` block of 10 holds the 9 internal ports and this one).
  for (const [name, grpcPort] of Object.entries(DEFAULT_GRPC_PORTS)) {
    components[name]!.grpcPort = overrides.basePort !== undefined ? overrides.basePort + offset++ : grpcPort
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

/** The gRPC URL of a component that declares `grpcPort`, else undefined. */
export function componentGrpcUrl(config: PlatformConfig, name: string): string | undefined {
  const port = config.components[name]?.grpcPort
  if (port === undefined || name === 'gateway') return undefined
  const host = config.internalHost.includes(':') ? `[${config.internalHost}]` : config.internalHost
  return `https://${host}:${port}`
}

/**
 * Components that may run as several replicas: their state is in PostgreSQL
 * and what must hold across replicas holds there. Not the CA (its key files
 * and intermediate rotation are per process), not audit (one writer: a leader
 * lock, another change), not the console (sessions in memory). A user's own
 * services may too.
 */
export const REPLICABLE: readonly ComponentName[] = ['identity', 'gateway', 'policy', 'vault', 'users', 'catalog', 'orders', 'payments']

/** How many processes of `name` run (1 unless `replicas` says more). */
export function replicaCount(config: PlatformConfig, name: string): number {
  return config.components[name]?.replicas ?? 1
}

/** The port replica `replica` (from 1) of `name` listens on: consecutive from `port`; every gateway replica on `port`. */
export function replicaPort(config: PlatformConfig, name: string, replica: number): number {
  const port = config.components[name]!.port
  return name === 'gateway' || port === 0 ? port : port + replica - 1
}

/** Every replica's URL of `name`, in replica order (one entry without replicas). */
export function componentUrls(config: PlatformConfig, name: string): string[] {
  const first = componentUrl(config, name)
  if (name === 'gateway') return [first]
  const count = replicaCount(config, name)
  return Array.from({ length: count }, (_, i) => i === 0 ? first : first.replace(/:(\d+)$/, `:${replicaPort(config, name, i + 1)}`))
}

/** The gRPC URL of replica `replica` of `name`, when it serves gRPC: consecutive from `grpcPort`. */
export function replicaGrpcUrl(config: PlatformConfig, name: string, replica: number): string | undefined {
  const url = componentGrpcUrl(config, name)
  if (!url || replica === 1) return url
  return url.replace(/:(\d+)$/, (_, port: string) => `:${Number(port) + replica - 1}`)
}

/**
 * What `replicas` allows: only the components in REPLICABLE (and the user's
 * services), only on PostgreSQL (on SQLite each replica would open the same
 * file, or its own, and they would not agree), and no replica port may be
 * another listener's.
 */
export function checkReplicas(config: PlatformConfig, onPostgres: boolean): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const owners = new Map<number, string>()
  const claim = (port: number, who: string, path: string) => {
    if (port === 0) return
    const other = owners.get(port)
    if (other && other !== who) issues.push({ path, message: `port ${port} (${who}) is also ${other}'s: replicas take consecutive ports from \`port\`; leave room` })
    else owners.set(port, who)
  }
  // Every first port is a claim already (duplicates among them are checkServices' to report).
  for (const [name, section] of Object.entries(config.components)) {
    if (section.enabled === false) continue
    owners.set(section.port, `\`${name}\``)
    if (section.grpcPort !== undefined) owners.set(section.grpcPort, `\`${name}\` (gRPC)`)
  }
  for (const [name, section] of Object.entries(config.components)) {
    if (section.enabled === false) continue
    const count = section.replicas ?? 1
    if (count === 1) continue
    const platform = (COMPONENT_ORDER as readonly string[]).includes(name)
    if (platform && !(REPLICABLE as readonly string[]).includes(name)) {
      issues.push({ path: `/components/${name}/replicas`, message: `\`${name}\` runs as one process (replicas are for ${REPLICABLE.join(', ')} and your own services)` })
      continue
    }
    if ((section as { sidecar?: unknown }).sidecar !== undefined) {
      // Every replica's app would need its own app port: not built.
      issues.push({ path: `/components/${name}/replicas`, message: 'a service behind the sidecar runs as one process (replicas of sidecar services: planned)' })
      continue
    }
    if (!onPostgres) {
      issues.push({ path: `/components/${name}/replicas`, message: 'replicas need PostgreSQL storage (BULWARK_DATABASE_URL or `storage.postgres`): on SQLite each process would keep its own state' })
      continue
    }
    if (name === 'gateway') continue
    for (let replica = 2; replica <= count; replica++) {
      claim(replicaPort(config, name, replica), `\`${name}\` replica ${replica}`, `/components/${name}/port`)
      if (section.grpcPort !== undefined) claim(section.grpcPort + replica - 1, `\`${name}\` replica ${replica} (gRPC)`, `/components/${name}/grpcPort`)
    }
  }
  return issues
}

export function gatewayUrl(config: PlatformConfig): string {
  return `https://${config.publicHost}:${config.components.gateway?.port ?? 8443}`
}

/** What the schema cannot say: secrets are never literal values in config.json. */
export function checkPlatformConfig(config: PlatformConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const url = config.storage?.postgres?.url
  if (url !== undefined) {
    try {
      checkPostgresUrl(url)
      if (postgresUrlHasPassword(url)) {
        issues.push({ path: '/storage/postgres/url', message: 'carries a password: put it in `storage.postgres.passwordFile` (mode 0600) or the BULWARK_DATABASE_URL environment variable' })
      }
    } catch (error) {
      issues.push({ path: '/storage/postgres/url', message: (error as Error).message })
    }
  }
  return issues
}

/** Loads and checks `.bulwark/config.json`; a ConfigError names every bad path (never a secret's value). */
export function loadPlatformConfig(file: string): PlatformConfig {
  const config = loadConfig(PlatformConfigSchema, { file }) as PlatformConfig
  const issues = checkPlatformConfig(config)
  if (issues.length > 0) throw new ConfigError(file, issues)
  return config
}
