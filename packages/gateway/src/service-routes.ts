// Routes to the user's own services, in the config shape
//   {"prefix": "/api/notes", "service": "notes", "auth": "required"|"optional"|"none", "scopes"?, "action"?, "schema"?, "rateLimit"?}
// compiled into the route table's shape: one route serving the prefix and
// everything below it, every method, the token exchanged for one addressed to
// the service. Refused (naming the entry): an unknown service, a prefix into
// `/internal/`, and a prefix that overlaps any other route of the table.
import { checkSchema, forwardedPrefix, isServiceRoute, ServiceRouteSchema, type ConfigIssue, type ServiceRoute } from '@bulwark/core'
import type { RouteConfig } from './route-schema.ts'

type RouteInput = Partial<RouteConfig> & Pick<RouteConfig, 'id' | 'path' | 'methods' | 'upstream'>

const METHODS: RouteConfig['methods'] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']

/** The route id of a service route (metric label, audit `route`, Cedar `Route::"<id>"`): `notes.api.notes` for `/api/notes`. */
export function serviceRouteId(route: ServiceRoute): string {
  return `${route.service}${route.prefix.replaceAll('/', '.')}`.slice(0, 64)
}

export function compileServiceRoute(route: ServiceRoute): RouteInput {
  return {
    id: serviceRouteId(route),
    path: `${route.prefix}/**`,
    methods: [...METHODS],
    upstream: route.service,
    ...(forwardedPrefix(route.prefix) !== route.prefix ? { stripPrefix: '/api' } : {}),
    public: route.auth === 'none',
    optionalAuth: route.auth === 'optional',
    scopes: [...route.scopes ?? []],
    ...(route.action ? { action: route.action } : {}),
    ...(route.schema ? { body: route.schema } : {}),
    ...(route.rateLimit ? { rateLimit: { ...route.rateLimit } } : {}),
  }
}

/** The literal segments a route path starts with, and whether it can match longer paths. */
function literalPrefix(path: string): string {
  const out: string[] = []
  for (const segment of path.slice(1).split('/')) {
    if (segment.startsWith(':') || segment.startsWith('*')) break
    out.push(segment)
  }
  return `/${out.join('/')}`
}

/** True when some request path matches both `path` (a table route) and everything under `prefix`. */
function overlaps(path: string, prefix: string): boolean {
  const want = prefix.split('/').slice(1)
  const have = path.split('/').slice(1)
  for (let i = 0; i < want.length; i++) {
    const segment = have[i]
    if (segment === undefined) return false // the route's paths are all shorter than the prefix
    if (segment === '*' || segment === '**') return true
    if (!segment.startsWith(':') && segment !== want[i]) return false
  }
  return true
}

/**
 * Splits a configured table into full entries and service routes, and returns
 * the table to compile: the full entries (or `fallback`, the demo table, when
 * there are none but service routes) followed by the compiled service routes.
 */
export function expandServiceRoutes(input: unknown[] | undefined, fallback: readonly unknown[], services?: readonly string[]): { table: unknown[]; issues: ConfigIssue[] } {
  if (input === undefined) return { table: structuredClone([...fallback]), issues: [] }
  const full = input.filter((entry) => !isServiceRoute(entry))
  const wanted = input.map((entry, index) => ({ entry, index })).filter(({ entry }) => isServiceRoute(entry))
  if (wanted.length === 0) return { table: full, issues: [] }
  const base = full.length > 0 ? full : structuredClone([...fallback]) as unknown[]
  const issues: ConfigIssue[] = []
  const compiled: RouteInput[] = []
  const accepted: ServiceRoute[] = []
  for (const { entry, index } of wanted) {
    const at = `/routes/${index}`
    const schemaIssues = checkSchema(ServiceRouteSchema, entry).map((i) => ({ ...i, path: `${at}${i.path === '/' ? '' : i.path}` }))
    issues.push(...schemaIssues)
    if (schemaIssues.length > 0) continue
    const route = entry as ServiceRoute
    const name = `route \`${route.prefix}\``
    const before = issues.length
    if (services && !services.includes(route.service)) issues.push({ path: `${at}/service`, message: `${name}: unknown service \`${route.service}\`` })
    if (/^\/internal(\/|$)/i.test(route.prefix) || /^\/internal(\/|$)/i.test(forwardedPrefix(route.prefix))) {
      issues.push({ path: `${at}/prefix`, message: `${name}: \`/internal/\` routes are never reachable through the gateway` })
    }
    const table = base.find((other) => typeof (other as RouteConfig).path === 'string' && overlaps((other as RouteConfig).path, route.prefix) || overlaps(route.prefix, literalPrefix((other as RouteConfig).path ?? '/x')))
    if (table) issues.push({ path: `${at}/prefix`, message: `${name} overlaps route \`${(table as RouteConfig).id}\` (\`${(table as RouteConfig).path}\`)` })
    const sibling = accepted.find((other) => overlaps(`${other.prefix}/**`, route.prefix) || overlaps(`${route.prefix}/**`, other.prefix))
    if (sibling) issues.push({ path: `${at}/prefix`, message: `${name} overlaps route \`${sibling.prefix}\`` })
    if (issues.length > before) continue
    accepted.push(route)
    compiled.push(compileServiceRoute(route))
  }
  return { table: [...base, ...compiled], issues }
}
