// `bulwark service add NAME --route PREFIX [--auth MODE] [--port N] [--cwd DIR] [--sidecar --app-port N] -- COMMAND…`:
// declares one of the user's own services in config.json (a component section
// on a free port, a gateway route to it) and writes a starter Cedar policy in
// the home's policy folder (the gateway may call it; it calls nothing). The
// config is checked before anything is written; a bad name or a duplicate is
// a usage error (exit 2).
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkServices, COMPONENT_ORDER, loadConfig, PlatformConfigSchema, ROUTE_AUTH, SERVICE_NAME_PATTERN, writeFileAtomic, type PlatformConfig } from '@bulwark/core/base'
import { intFlag, parseArgs, UsageError } from '../args.ts'
import { CliError, type CliContext } from '../context.ts'

export const usage = `bulwark service add NAME [--route PREFIX] [--auth required|optional|none] [--port N] [--cwd DIR]
                    [--sidecar --app-port N] -- COMMAND [ARG…]
  Declares your own service NAME in config.json: a component on a free port (or --port) started
  with COMMAND (an argv, e.g. -- node server.ts; relative --cwd is from the project folder), a
  gateway route PREFIX (default /api/NAME) with the given auth (default required), and a starter
  Cedar policy in <home>/policies/NAME.cedar. --sidecar --app-port N declares an any-language
  service behind \`bulwark sidecar\`: the app listens on 127.0.0.1:N (BULWARK_APP_PORT).`

const FIRST_SERVICE_PORT = 8621
const RESERVED_PREFIXES = /^\/(healthz|readyz|metrics|\.well-known|oauth2|interaction|internal)(\/|$)/

function starterPolicy(name: string): string {
  return `// Service \`${name}\` (written by \`bulwark service add\`). Everything not permitted is denied.
// Microsegmentation: the gateway may call ${name} (never its /internal/ routes: platform policy
// \`seg-gateway-never-internal\` forbids that). ${name} calls nothing: to let it call another
// service, add a permit with \`principal.name == "${name}"\` and \`resource.service == "<target>"\`.
@id("${name}-gateway-calls")
permit (principal is Service, action == Action::"call", resource is Endpoint)
when { principal.name == "gateway" && resource.service == "${name}" };
`
}

async function portIsFree(host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)))
  })
}

async function freePort(config: PlatformConfig): Promise<number> {
  const taken = new Set(Object.values(config.components).flatMap((c) => {
    const appPort = (c as unknown as { sidecar?: { appPort?: number } }).sidecar?.appPort
    return appPort === undefined ? [c.port] : [c.port, appPort]
  }))
  for (let port = FIRST_SERVICE_PORT; port < FIRST_SERVICE_PORT + 1000; port++) {
    if (!taken.has(port) && await portIsFree(config.internalHost, port)) return port
  }
  throw new CliError('no free port from 8621 to 9620; give one with --port')
}

/** The home's policy folder, created as a copy of the packaged policies so that it is the whole set. */
function ensurePolicyFolder(dir: string): boolean {
  if (existsSync(dir)) return false
  const packaged = dirname(fileURLToPath(import.meta.resolve('@bulwark/policy/policies/platform.cedar')))
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  for (const file of readdirSync(packaged).filter((f) => f.endsWith('.cedar'))) copyFileSync(join(packaged, file), join(dir, file))
  return true
}

async function add(args: string[], ctx: CliContext): Promise<number> {
  const dash = args.indexOf('--')
  const command = dash === -1 ? [] : args.slice(dash + 1)
  const { positionals, flags } = parseArgs(dash === -1 ? args : args.slice(0, dash), { route: 'string', auth: 'string', port: 'string', cwd: 'string', sidecar: 'boolean', 'app-port': 'string', json: 'boolean' })
  const name = positionals[1]
  if (!name) throw new UsageError('add: NAME is required')
  if (positionals.length > 2) throw new UsageError(`add: unexpected argument \`${positionals[2]}\` (the command goes after \`--\`)`)
  if (!SERVICE_NAME_PATTERN.test(name)) throw new UsageError(`add: \`${name.slice(0, 64)}\` is not a service name: lowercase letters, digits and dashes, starting with a letter, at most 32`)
  if ((COMPONENT_ORDER as readonly string[]).includes(name)) throw new UsageError(`add: \`${name}\` is a platform component`)
  if (command.length === 0) throw new UsageError('add: the command is required after `--` (e.g. `-- node server.ts`)')
  const route = (flags.route as string | undefined) ?? `/api/${name}`
  if (!route.startsWith('/') || !route.slice(1).split('/').every((segment) => /^[A-Za-z0-9._~-]+$/.test(segment))) throw new UsageError(`add: \`--route\` \`${route.slice(0, 200)}\` must be a path like /api/${name}`)
  if (RESERVED_PREFIXES.test(route)) throw new UsageError(`add: \`--route\` \`${route}\` is the platform's`)
  const auth = (flags.auth as string | undefined) ?? 'required'
  if (!(ROUTE_AUTH as readonly string[]).includes(auth)) throw new UsageError(`add: \`--auth\` must be one of ${ROUTE_AUTH.join(', ')}`)
  const appPort = intFlag(flags, 'app-port', 1, 65535)
  if (flags.sidecar === true && appPort === undefined) throw new UsageError('add: `--sidecar` needs `--app-port N` (where the app listens on 127.0.0.1)')
  if (flags.sidecar !== true && appPort !== undefined) throw new UsageError('add: `--app-port` goes with `--sidecar`')

  const config = ctx.config()
  if (config.components[name]) throw new UsageError(`add: a component \`${name}\` already exists in ${ctx.paths.config}`)
  const raw = JSON.parse(readFileSync(ctx.paths.config, 'utf8')) as { components: Record<string, Record<string, unknown>> }
  const port = intFlag(flags, 'port', 1, 65535) ?? await freePort(config)
  raw.components[name] = {
    port, command, ...(flags.cwd ? { cwd: flags.cwd } : {}), ...(appPort !== undefined ? { sidecar: { appPort } } : {}),
  }
  const gateway = raw.components.gateway ??= { port: 8443 }
  const routes = Array.isArray(gateway.routes) ? gateway.routes as unknown[] : (gateway.routes = [])
  routes.push({ prefix: route, service: name, auth })

  // Checked as `bulwark up` will check it; nothing is written when it would be refused.
  let next: PlatformConfig
  try {
    next = loadConfig(PlatformConfigSchema, { value: structuredClone(raw), source: ctx.paths.config }) as PlatformConfig
  } catch (error) {
    throw new CliError((error as Error).message)
  }
  const problems = checkServices(next)
  if (problems.length > 0) throw new CliError(`nothing written: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`)

  const policyDir = join(ctx.home, 'policies')
  const created = ensurePolicyFolder(policyDir)
  const policyFile = join(policyDir, `${name}.cedar`)
  writeFileAtomic(policyFile, starterPolicy(name), 0o600)
  // A first start seeds the policy service from this folder; later, `bulwark policy apply` it.
  const policy = raw.components.policy ??= { port: 8603 }
  if (policy.seedPoliciesDir === undefined) policy.seedPoliciesDir = policyDir
  writeFileAtomic(ctx.paths.config, JSON.stringify(raw, null, 2) + '\n', 0o600)

  if (ctx.json) {
    ctx.out(JSON.stringify({ name, port, command, route, auth, policyFile, sidecar: appPort !== undefined ? { appPort } : undefined }))
    return 0
  }
  const shown = relative(process.cwd(), policyFile) || policyFile
  const upstreamPath = route.startsWith('/api/') ? route.slice(4) : route
  ctx.out([
    `added service \`${name}\` to ${ctx.paths.config}:`,
    `  components.${name}: port ${port}, command ${JSON.stringify(command)}${flags.cwd ? ` in ${String(flags.cwd)}` : ''}${appPort !== undefined ? `, sidecar app on 127.0.0.1:${appPort}` : ''}`,
    `  gateway route: ${route} and below -> ${name} (auth ${auth}); ${name} sees ${upstreamPath}…`,
    `  policy: ${shown}${created ? ` (the folder now holds the platform's policies too: it is the whole set)` : ''}`,
    'next:',
    appPort !== undefined
      ? `  1. listen on 127.0.0.1:${appPort} (BULWARK_APP_PORT) and serve ${upstreamPath}; the caller is in X-Bulwark-Subject/-Roles/-Scopes (see docs/sidecar.md)`
      : `  1. serve ${upstreamPath} in your service with runComponent + createSecureService from @bulwark/sdk (see docs/your-first-service.md)`,
    `  2. edit ${shown}: who may call ${name}, what ${name} may call, and your own actions`,
    `  3. bulwark up   (a running instance: stop and start it, then \`bulwark policy apply ${relative(process.cwd(), policyDir) || policyDir}\`)`,
  ].join('\n'))
  return 0
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const sub = args[0]
  if (sub === 'add') return await add(args, ctx)
  throw new UsageError(sub ? `unknown subcommand \`${sub}\`` : 'a subcommand is required')
}
