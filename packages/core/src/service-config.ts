// A user's own services in `.bulwark/config.json` (`components.<name>` with a
// `command`) and the gateway routes to them (`components.gateway.routes`
// entries with a `prefix`). Checked by `bulwark up` before anything starts
// and by `bulwark service add` before it writes; the gateway checks its
// routes again (against its whole table) at start and on every reload.
import { Type, type Static } from '@sinclair/typebox'
import { checkSchema, type ConfigIssue } from './config.ts'
import { COMPONENT_ORDER, SHOP_COMPONENTS, type PlatformConfig } from './platform-config.ts'

const Port = Type.Integer({ minimum: 1, maximum: 65535 })
export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/

export const ServiceSectionSchema = Type.Object({
  port: Port,
  enabled: Type.Optional(Type.Boolean()),
  /** argv: `command[0]` is the program (`node` runs the Node.js that runs Bulwark), never a shell line. */
  command: Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 256 }),
  /** Working directory; relative to the folder that holds the home (the project). */
  cwd: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  /** Plain settings for the process; secrets come from the vault, never from here. */
  env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' }), Type.String({ maxLength: 8192 }))),
  replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  /**
   * Any-language service behind `bulwark sidecar`, the app on 127.0.0.1:appPort. The frame checks
   * `appPort` here; the sidecar checks the rest of the section (egressPort, routes, limits) strictly at its start.
   */
  sidecar: Type.Optional(Type.Object({ appPort: Port }, { additionalProperties: true })),
}, { additionalProperties: false })

export type ServiceSection = Static<typeof ServiceSectionSchema>

export const ROUTE_AUTH = ['required', 'optional', 'none'] as const

export const ServiceRouteSchema = Type.Object({
  /** `/api/notes`: the route serves this path and everything below it. */
  prefix: Type.String({ pattern: '^(/[A-Za-z0-9._~-]+)+$', maxLength: 200 }),
  service: Type.String({ pattern: SERVICE_NAME_PATTERN.source }),
  /** required: a valid token; optional: verified when sent, else anonymous; none: never authenticated. */
  auth: Type.Union(ROUTE_AUTH.map((a) => Type.Literal(a))),
  /** Every one of these scopes (needs `auth` required). */
  scopes: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z][a-z0-9:_.-]{0,63}$' }), { maxItems: 32 })),
  /** Cedar action asked at the edge (`Action::"<action>"` on `Route::"<route id>"`); absent: no edge decision. */
  action: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' })),
  /** JSON Schema of the request body (JSON). */
  schema: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  rateLimit: Type.Optional(Type.Object({ rate: Type.Number({ exclusiveMinimum: 0 }), burst: Type.Integer({ minimum: 1 }) }, { additionalProperties: false })),
}, { additionalProperties: false })

export type ServiceRoute = Static<typeof ServiceRouteSchema>

// Same words the supervisor strips from a child's environment.
const CREDENTIAL_KEY = /(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_?KEY)/i
const PLATFORM = new Set<string>(COMPONENT_ORDER)

export function isServiceRoute(value: unknown): value is ServiceRoute {
  return typeof value === 'object' && value !== null && 'prefix' in value
}

/** The path a service receives for a public path: `/api` comes off, as for the demo shop (`/api/notes/n1` -> `/notes/n1`). */
export function forwardedPrefix(prefix: string): string {
  return prefix.startsWith('/api/') ? prefix.slice('/api'.length) : prefix
}

/** True when two prefixes serve a common path (one is a segment-wise prefix of the other). */
export function prefixesOverlap(a: string, b: string): boolean {
  const x = a.split('/'), y = b.split('/')
  const n = Math.min(x.length, y.length)
  return x.slice(0, n).every((s, i) => s === y[i])
}

function isNodeCommand(program: string): boolean {
  return /(^|\/)node(\.exe)?$/.test(program)
}

/** Every problem of the user's services and their routes, at once; empty when all is well. */
export function checkServices(config: PlatformConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const ports = new Map<number, string>()
  for (const [name, section] of Object.entries(config.components)) if (section.enabled !== false) ports.set(section.port, name)
  for (const [name, raw] of Object.entries(config.components)) {
    const at = `/components/${name}`
    const hasCommand = 'command' in raw
    if (PLATFORM.has(name)) {
      if (hasCommand) issues.push({ path: `${at}/command`, message: `\`${name}\` is a platform component; \`command\` is for your own services` })
      continue
    }
    if (!hasCommand) {
      issues.push({ path: `${at}/command`, message: 'a service of your own needs `command` (an argv array, e.g. ["node", "server.ts"])' })
      continue
    }
    const schemaIssues = checkSchema(ServiceSectionSchema, raw).map((i) => ({ ...i, path: `${at}${i.path === '/' ? '' : i.path}` }))
    issues.push(...schemaIssues)
    if (schemaIssues.length > 0) continue
    const section = raw as unknown as ServiceSection
    for (const [key, value] of Object.entries(section.env ?? {})) {
      if (CREDENTIAL_KEY.test(key)) issues.push({ path: `${at}/env/${key}`, message: 'looks like a credential: keep secrets in the vault (`bulwark secrets put`), never in config.json' })
      else if (/^BULWARK_/i.test(key) || key === 'NODE_OPTIONS' || key === 'NODE_CHANNEL_FD') issues.push({ path: `${at}/env/${key}`, message: 'is set by the supervisor' })
      else if (/^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(value)) issues.push({ path: `${at}/env/${key}`, message: 'holds a URL with a password: keep secrets in the vault, never in config.json' })
    }
    if (section.sidecar) {
      const other = ports.get(section.sidecar.appPort)
      if (section.sidecar.appPort === section.port) issues.push({ path: `${at}/sidecar/appPort`, message: 'must differ from `port` (the sidecar listens there)' })
      else if (other) issues.push({ path: `${at}/sidecar/appPort`, message: `port ${section.sidecar.appPort} is also \`${other}\`'s` })
    } else if (!isNodeCommand(section.command[0]!)) {
      issues.push({ path: `${at}/command`, message: 'without `sidecar`, a service must be a Node.js program using the sdk (`command[0]` `node`); other languages run behind `sidecar: {"appPort": N}`' })
    }
  }
  const seen = new Map<number, string>()
  for (const [name, section] of Object.entries(config.components)) {
    if (section.enabled === false) continue
    const owner = seen.get(section.port)
    if (owner && section.port !== 0) issues.push({ path: `/components/${name}/port`, message: `port ${section.port} is also \`${owner}\`'s` })
    seen.set(section.port, name)
  }
  issues.push(...checkServiceRoutes(config))
  return issues
}

/** The user-shape entries of `components.gateway.routes`: known target, no `/internal/`, no overlap between them. */
export function checkServiceRoutes(config: PlatformConfig): ConfigIssue[] {
  const routes = (config.components.gateway as { routes?: unknown } | undefined)?.routes
  if (!Array.isArray(routes)) return []
  const issues: ConfigIssue[] = []
  const accepted: Array<{ index: number; prefix: string }> = []
  for (const [index, route] of routes.entries()) {
    if (!isServiceRoute(route)) continue
    const at = `/components/gateway/routes/${index}`
    const schemaIssues = checkSchema(ServiceRouteSchema, route).map((i) => ({ ...i, path: `${at}${i.path === '/' ? '' : i.path}` }))
    issues.push(...schemaIssues)
    if (schemaIssues.length > 0) continue
    const name = `route \`${route.prefix}\``
    const target = config.components[route.service]
    const routable = target && (!PLATFORM.has(route.service) || (SHOP_COMPONENTS as readonly string[]).includes(route.service))
    if (!target) issues.push({ path: `${at}/service`, message: `${name}: unknown service \`${route.service}\` (no \`components.${route.service}\`)` })
    else if (!routable) issues.push({ path: `${at}/service`, message: `${name}: \`${route.service}\` is a platform component; routes go to your own services` })
    if (/^\/internal(\/|$)/i.test(forwardedPrefix(route.prefix)) || /^\/internal(\/|$)/i.test(route.prefix)) {
      issues.push({ path: `${at}/prefix`, message: `${name}: \`/internal/\` routes are never reachable through the gateway` })
    }
    if (route.auth !== 'required' && (route.scopes?.length ?? 0) > 0) issues.push({ path: `${at}/scopes`, message: `${name}: scopes need \`auth\` \`required\`` })
    const clash = accepted.find((other) => prefixesOverlap(other.prefix, route.prefix))
    if (clash) issues.push({ path: `${at}/prefix`, message: `${name} overlaps route \`${clash.prefix}\` (entry ${clash.index})` })
    else accepted.push({ index, prefix: route.prefix })
  }
  return issues
}
