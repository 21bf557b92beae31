// `bulwark run COMPONENT`: runs one component in this process, without the
// supervisor: the container entry point on Kubernetes (one image, the
// component chosen by argument). The bootstrap that `bulwark up` sends over
// IPC comes from a mounted file instead (`bulwark deploy kubernetes` renders
// it into a ConfigMap); it holds no secret: the first SVID comes from
// attesting the pod's projected service-account token at the CA, and database
// passwords come from files named in it (Kubernetes Secrets), read here and
// handed to the component in memory only. Mounted keys are copied into the
// home (a memory-backed volume) with mode 0600: Secret volumes can only be
// made readable to a non-root user through its group (0440), which the
// components' own checks on key files rightly refuse.
import { readFileSync, statSync } from 'node:fs'
import { isAbsolute, join, normalize } from 'node:path'
import { pathToFileURL } from 'node:url'
import { COMPONENT_ORDER, isBootstrapMessage, writeFileAtomic, type BootstrapMessage } from '@bulwark/core/base'
import { parseArgs, UsageError } from '../args.ts'
import type { CliContext } from '../context.ts'
import { CliError } from '../context.ts'
import { entryPointOf } from '../supervisor/components.ts'

export const usage = `bulwark run COMPONENT [--bootstrap FILE]
  Runs one component (${COMPONENT_ORDER.join(', ')}) in the foreground, outside
  \`bulwark up\`: its bootstrap is read from FILE (default
  /etc/bulwark/bootstrap/COMPONENT.json). The bootstrap must not carry a join
  token; the first certificate comes from attestation (\`attestation.kubernetes\`).`

const DEFAULT_DIR = '/etc/bulwark/bootstrap'

type WithPasswordFile = { url: string; passwordFile?: string }
/** A mounted file to copy into the home before start: Secrets land there 0600 (the components insist), the rest 0644. */
type Install = { from: string; to: string; secret?: boolean }
type StandaloneBootstrap = BootstrapMessage & { install?: Install[]; storage?: { postgres?: WithPasswordFile }; redis?: WithPasswordFile }

function installFiles(home: string, install: readonly Install[]): void {
  for (const file of install) {
    const to = normalize(file.to)
    if (isAbsolute(to) || to.startsWith('..')) throw new CliError(`install target \`${file.to}\` is outside the home`)
    let content: Buffer
    try {
      content = readFileSync(file.from)
    } catch {
      throw new CliError(`mounted file \`${file.from}\` cannot be read`)
    }
    writeFileAtomic(join(home, to), content, file.secret ? 0o600 : 0o644)
  }
}

/** A Kubernetes Secret file, read once; refused when anyone but its owner and group may read it. */
function readPasswordFile(path: string): string {
  let mode: number
  try {
    mode = statSync(path).mode
  } catch {
    throw new CliError(`password file \`${path}\` cannot be read`)
  }
  if (mode & 0o007) throw new CliError(`password file \`${path}\` is readable by others (mode ${(mode & 0o777).toString(8)}); mount the Secret with defaultMode 0440 or stricter`)
  return readFileSync(path, 'utf8').trim()
}

/** Resolves `{url, passwordFile}` into a url with the password, in memory only. */
function withPassword(section: WithPasswordFile | undefined): { url: string } | undefined {
  if (!section) return undefined
  if (!section.passwordFile) return { url: section.url }
  const url = new URL(section.url)
  if (url.password) throw new CliError('a bootstrap url carries a password: use passwordFile')
  url.password = encodeURIComponent(readPasswordFile(section.passwordFile))
  return { url: url.toString() }
}

export function loadStandaloneBootstrap(component: string, file: string): BootstrapMessage {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new CliError(`bootstrap file \`${file}\` cannot be read: ${(error as Error).message}`)
  }
  if (!isBootstrapMessage(parsed)) throw new CliError(`bootstrap file \`${file}\` is not a bootstrap message`)
  if (parsed.component !== component) throw new CliError(`bootstrap file \`${file}\` is for \`${parsed.component}\`, not \`${component}\``)
  // A file on a volume outlives the minutes a join token is good for: never one there.
  if (parsed.joinToken !== undefined) throw new CliError(`bootstrap file \`${file}\` carries a join token; use attestation`)
  if (component !== 'ca' && !parsed.attestation?.kubernetes) throw new CliError(`bootstrap file \`${file}\` names no attestation`)
  const { install, storage, redis: redisSection, ...rest } = parsed as StandaloneBootstrap
  installFiles(rest.home, install ?? [])
  const postgres = withPassword(storage?.postgres)
  const redis = withPassword(redisSection)
  return { ...rest, ...(postgres ? { storage: { postgres } } : {}), ...(redis ? { redis } : {}) } as BootstrapMessage
}

export async function run(args: string[], _ctx: CliContext): Promise<number> {
  const { positionals, flags } = parseArgs(args, { bootstrap: 'string' })
  const [component, ...rest] = positionals
  if (!component || rest.length > 0) throw new UsageError('name exactly one component')
  if (!(COMPONENT_ORDER as readonly string[]).includes(component)) throw new UsageError(`unknown component \`${component}\``)
  const file = typeof flags.bootstrap === 'string' ? flags.bootstrap : `${DEFAULT_DIR}/${component}.json`
  const bootstrap = loadStandaloneBootstrap(component, file)
  // The runtime receives it as it would over IPC (sdk/runtime/bootstrap-source.ts).
  const runtime = await import('@bulwark/sdk/runtime')
  runtime.provideBootstrap(bootstrap)
  const entry = entryPointOf(component)
  if (!entry) throw new UsageError(`component \`${component}\` is not installed here`)
  await import(pathToFileURL(entry).href)
  return 0
}
