// `bulwark deploy kubernetes --out DIR`: renders the Kubernetes manifests
// (Kustomize base + postgres-redis overlay) from the platform config (the
// home's config.json, or the defaults when there is none) and the Cedar
// policies, whose segmentation graph becomes the NetworkPolicies.
// `deploy/kubernetes/` in the repository is this command's output with the
// defaults; a test keeps the two equal.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { COMPONENT_ORDER, defaultPlatformConfig, writeFileAtomic, type PlatformConfig } from '@bulwark/core/base'
import { readPolicyPath } from '@bulwark/sdk/policy'
import { parseArgs, UsageError } from '../args.ts'
import { CliError, type CliContext } from '../context.ts'
import { renderKustomize } from '../deploy/kustomize.ts'
import { segmentationGraph } from '../deploy/segmentation.ts'

export const usage = `bulwark deploy kubernetes --out DIR [--force] [--namespace NS] [--image REF]
    [--public-host HOST] [--issuer URL] [--jwks-uri URL] [--policies PATH]
    [--postgres-url URL] [--redis-url URL]
  Renders DIR/base (Kustomize, SQLite on a volume per component) and
  DIR/overlays/postgres-redis from the home's config.json (defaults without one)
  and the Cedar policies (PATH, default the packaged ones): NetworkPolicies allow
  exactly the service-to-service calls the policies permit. Database URLs carry
  no password: it comes from the Secret \`bulwark-databases\`, mounted as a file.`

const PACKAGED_POLICIES = fileURLToPath(new URL('../../../policy/policies', import.meta.url))
const PACKAGED_SCHEMA = fileURLToPath(new URL('../../../policy/schema/bulwark.cedarschema', import.meta.url))
const NAMESPACE = /^[a-z0-9][-a-z0-9]{0,62}$/

export const DEPLOY_DEFAULTS = {
  namespace: 'bulwark',
  image: 'ghcr.io/bulwark-dev/bulwark:0.1.0',
  publicHost: 'bulwark.example.com',
  issuer: 'https://kubernetes.default.svc.cluster.local',
  jwksUri: 'https://kubernetes.default.svc/openid/v1/jwks',
  postgresUrl: 'postgres://bulwark@postgres.bulwark-data.svc:5432/bulwark',
  redisUrl: 'redis://redis.bulwark-data.svc:6379/0',
}

function databaseUrl(value: string, name: string, schemes: string[]): string {
  let url: URL
  try { url = new URL(value) } catch { throw new UsageError(`\`--${name}\` is not a URL`) }
  if (!schemes.includes(url.protocol)) throw new UsageError(`\`--${name}\` must be a ${schemes.join(' or ')} URL`)
  // Manifests are checked in and read by many: the password stays in the Secret.
  if (url.password) throw new UsageError(`\`--${name}\` carries a password: put it in the Secret \`bulwark-databases\` instead`)
  return value
}

function httpsUrl(value: string, name: string): string {
  if (!/^https:\/\/[^\s]+$/.test(value)) throw new UsageError(`\`--${name}\` must be an https URL`)
  return value
}

function platformConfig(ctx: CliContext): PlatformConfig {
  return existsSync(ctx.paths.config) ? ctx.config() : defaultPlatformConfig()
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { positionals, flags } = parseArgs(args, {
    out: 'string', force: 'boolean', namespace: 'string', image: 'string', 'public-host': 'string', issuer: 'string',
    'jwks-uri': 'string', policies: 'string', 'postgres-url': 'string', 'redis-url': 'string', json: 'boolean',
  })
  if (positionals[0] !== 'kubernetes' || positionals.length !== 1) throw new UsageError('the only target is `kubernetes`')
  if (typeof flags.out !== 'string') throw new UsageError('`--out DIR` is required')
  const namespace = typeof flags.namespace === 'string' ? flags.namespace : DEPLOY_DEFAULTS.namespace
  if (!NAMESPACE.test(namespace) || namespace.endsWith('-')) throw new UsageError('`--namespace` must be a Kubernetes namespace name')
  const publicHost = typeof flags['public-host'] === 'string' ? flags['public-host'] : DEPLOY_DEFAULTS.publicHost
  if (!/^[a-z0-9.-]{1,253}$/.test(publicHost)) throw new UsageError('`--public-host` must be a DNS name')
  const str = (name: string, fallback: string) => (typeof flags[name] === 'string' ? flags[name] : fallback)

  const out = resolve(flags.out)
  if (existsSync(out) && readdirSync(out).length > 0 && flags.force !== true) {
    throw new CliError(`\`${out}\` is not empty; nothing written (use --force to overwrite)`)
  }
  const config = platformConfig(ctx)
  const components = COMPONENT_ORDER.filter((name) => config.components[name] && config.components[name].enabled !== false)
  const edges = segmentationGraph(readPolicyPath(str('policies', PACKAGED_POLICIES)), {
    schema: readFileSync(PACKAGED_SCHEMA, 'utf8'), trustDomain: config.trustDomain, components,
  })
  const files = renderKustomize({
    config, components, edges, namespace, publicHost,
    image: str('image', DEPLOY_DEFAULTS.image),
    issuer: httpsUrl(str('issuer', DEPLOY_DEFAULTS.issuer), 'issuer'),
    jwksUri: httpsUrl(str('jwks-uri', DEPLOY_DEFAULTS.jwksUri), 'jwks-uri'),
    databases: {
      postgresUrl: databaseUrl(str('postgres-url', DEPLOY_DEFAULTS.postgresUrl), 'postgres-url', ['postgres:', 'postgresql:']),
      redisUrl: databaseUrl(str('redis-url', DEPLOY_DEFAULTS.redisUrl), 'redis-url', ['redis:', 'rediss:']),
    },
  })
  for (const [path, content] of Object.entries(files)) {
    const target = join(out, path)
    mkdirSync(dirname(target), { recursive: true })
    writeFileAtomic(target, content, 0o644)
  }
  if (ctx.json) ctx.out(JSON.stringify({ out, files: Object.keys(files).sort(), edges }))
  else ctx.out(`bulwark: wrote ${Object.keys(files).length} files to ${out} (${edges.length} allowed service-to-service edges)`)
  return 0
}
