// The route table: checked with the TypeBox schema, compiled once (patterns,
// JSON Schemas, CIDR lists), swapped atomically on reload. A table that does
// not compile is refused as a whole.
import { Ajv, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { checkSchema, ConfigError, type ConfigIssue } from '@bulwark/core'
import { Type } from '@sinclair/typebox'
import { RouteSchema, type RouteConfig } from './route-schema.ts'
import { DEFAULT_ROUTES } from './default-routes.ts'
import { expandServiceRoutes } from './service-routes.ts'
import { createCidrList, type CidrList } from './ip.ts'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv
const RouteTableSchema = Type.Array(RouteSchema)
const bodyAjv = addFormats(new Ajv({ allErrors: true, strict: false, coerceTypes: false }))
const stringAjv = addFormats(new Ajv({ allErrors: true, strict: false, coerceTypes: true }))

export type CompiledRoute = RouteConfig & {
  readonly segments: readonly string[]
  readonly wildcard: boolean
  /** A final `**`: the path itself matches too. */
  readonly orSelf: boolean
  readonly validateBody?: ValidateFunction
  readonly validateQuery?: ValidateFunction
  readonly validateParams?: ValidateFunction
  readonly allowIps?: CidrList
  readonly denyIps?: CidrList
}

export type RouteMatch = { route: CompiledRoute; params: Record<string, string> }

export type RouteTable = {
  readonly routes: readonly CompiledRoute[]
  /** The route for `method` and `segments`, or the methods the path allows (for a 405). */
  match(method: string, segments: readonly string[]): RouteMatch | { allowed: string[] } | undefined
}

function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects)
  if (!schema || typeof schema !== 'object') return schema
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) out[key] = closeObjects(value)
  const types = out.type === undefined ? [] : [out.type].flat()
  if ((types.includes('object') || out.properties) && out.additionalProperties === undefined) out.additionalProperties = false
  return out
}

function compileRoute(route: RouteConfig, issues: ConfigIssue[], index: number): CompiledRoute | undefined {
  const at = `/routes/${index}`
  const segments = route.path === '/' ? [] : route.path.slice(1).split('/')
  const orSelf = segments.at(-1) === '**'
  if (orSelf) segments[segments.length - 1] = '*'
  const star = segments.indexOf('*')
  if (star !== -1 && star !== segments.length - 1) issues.push({ path: `${at}/path`, message: '`*` may only end a path' })
  if (route.grpc) checkGrpcRoute(route, issues, at)
  const compile = (ajv: Ajv, schema: unknown, name: string) => {
    if (schema === undefined) return undefined
    try {
      return ajv.compile(route.refuseUnknownFields && name !== 'params' ? closeObjects(schema) as object : schema as object)
    } catch (error) {
      issues.push({ path: `${at}/${name}`, message: `not a valid JSON Schema: ${(error as Error).message}` })
      return undefined
    }
  }
  const cidrs = (list: readonly string[] | undefined, name: string) => {
    if (!list || list.length === 0) return undefined
    try {
      return createCidrList(list)
    } catch (error) {
      issues.push({ path: `${at}/ipFilter/${name}`, message: (error as Error).message })
      return undefined
    }
  }
  return {
    ...route,
    segments: star === -1 ? segments : segments.slice(0, -1),
    wildcard: star !== -1,
    orSelf,
    validateBody: compile(bodyAjv, route.body, 'body'),
    validateQuery: compile(stringAjv, route.query, 'query'),
    validateParams: compile(stringAjv, route.params, 'params'),
    allowIps: cidrs(route.ipFilter?.allow, 'allow'),
    denyIps: cidrs(route.ipFilter?.deny, 'deny'),
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/

/** `/<package.Service>/<Method>` or `/<package.Service>/*` (a package is required: `pkg.Service`). */
function isGrpcPath(path: string): boolean {
  const parts = path.slice(1).split('/')
  if (parts.length !== 2) return false
  const names = parts[0]!.split('.')
  return names.length >= 2 && names.every((n) => IDENT.test(n)) && (parts[1] === '*' || IDENT.test(parts[1]!))
}

/** A gRPC route names one method (or all of a service's), is POST only and has none of the HTTP-only options. */
function checkGrpcRoute(route: RouteConfig, issues: ConfigIssue[], at: string): void {
  if (!isGrpcPath(route.path)) issues.push({ path: `${at}/path`, message: 'a gRPC route path is `/<package.Service>/<Method>` or `/<package.Service>/*`' })
  if (route.methods.length !== 1 || route.methods[0] !== 'POST') issues.push({ path: `${at}/methods`, message: 'a gRPC route takes `["POST"]` only' })
  for (const key of ['stripPrefix', 'body', 'query', 'params', 'cors'] as const) {
    if (route[key] !== undefined) issues.push({ path: `${at}/${key}`, message: `\`${key}\` does not apply to a gRPC route` })
  }
}

function matchPath(route: CompiledRoute, segments: readonly string[]): Record<string, string> | undefined {
  const min = route.wildcard && !route.orSelf ? route.segments.length + 1 : route.segments.length
  if (route.wildcard ? segments.length < min : segments.length !== route.segments.length) return undefined
  let params: Record<string, string> | undefined
  for (let i = 0; i < route.segments.length; i++) {
    const pattern = route.segments[i]!
    const segment = segments[i]!
    if (pattern.startsWith(':')) {
      let value: string
      try {
        value = decodeURIComponent(segment)
      } catch {
        return undefined
      }
      params ??= {}
      params[pattern.slice(1)] = value
    } else if (pattern !== segment) {
      return undefined
    }
  }
  return params ?? {}
}

/**
 * Validates and compiles a route table; throws a ConfigError listing every problem.
 * Entries in the user shape (`{prefix, service, auth}`, see service-routes.ts) are added to the
 * table of the full entries, or to the demo table when there are none; `services` (the peers the
 * gateway knows) makes a route to any other service an error.
 */
export function compileRoutes(input: readonly unknown[] | undefined, options: { services?: readonly string[] } = {}): RouteTable {
  const { table, issues: serviceIssues } = expandServiceRoutes(structuredClone(input) as unknown[] | undefined, DEFAULT_ROUTES, options.services)
  const raw = table
  const issues = [...serviceIssues, ...checkSchema(RouteTableSchema, raw).map((i) => ({ ...i, path: `/routes${i.path === '/' ? '' : i.path}` }))]
  if (issues.length > 0) throw new ConfigError('routes', issues)
  const routes: CompiledRoute[] = []
  const ids = new Set<string>()
  for (const [index, route] of (raw as RouteConfig[]).entries()) {
    if (ids.has(route.id)) issues.push({ path: `/routes/${index}/id`, message: `duplicate route id \`${route.id}\`` })
    ids.add(route.id)
    const compiled = compileRoute(route, issues, index)
    if (compiled) routes.push(compiled)
  }
  if (issues.length > 0) throw new ConfigError('routes', issues)
  Object.freeze(routes)
  return {
    routes,
    match(method, segments) {
      let allowed: string[] | undefined
      for (const route of routes) {
        const params = matchPath(route, segments)
        if (!params) continue
        if (route.methods.includes(method) || (method === 'HEAD' && route.methods.includes('GET'))) return { route, params }
        allowed = [...(allowed ?? []), ...route.methods]
      }
      return allowed ? { allowed: [...new Set(allowed)] } : undefined
    },
  }
}
