// `bulwark init`: creates the home — CA (root + intermediate), the operator's
// certificate, master key material and the default config. Refuses to
// overwrite an existing home without --force.
import { existsSync, mkdirSync, rmSync, chmodSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { initCaMaterial, issueOperatorCertificate } from '@bulwark/ca/material'
import { defaultPlatformConfig, homePaths, writeFileAtomic, writeSecretFile } from '@bulwark/core/base'
import { intFlag, parseArgs, UsageError } from '../args.ts'
import type { CliContext } from '../context.ts'

export const usage = `bulwark init [--force] [--gateway-port N] [--base-port N] [--trust-domain TD]
  Creates the Bulwark home (.bulwark/ or $BULWARK_HOME): CA, operator certificate,
  master key and config.json. Refuses to overwrite an existing home without --force.`

export type InitOptions = { force?: boolean; gatewayPort?: number; basePort?: number; trustDomain?: string }

/** Creates a home; shared by `init` and `up` (first run). Returns false when one exists and force is off. */
export async function initHome(home: string, options: InitOptions = {}): Promise<boolean> {
  const paths = homePaths(home)
  if (existsSync(paths.config) && !options.force) return false
  if (options.force) {
    for (const dir of [paths.caDir, paths.operatorDir, paths.dataDir, paths.runDir, paths.demoCredentials, `${home}/keys`]) {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  mkdirSync(home, { recursive: true, mode: 0o700 })
  chmodSync(home, 0o700)
  const config = defaultPlatformConfig({ gatewayPort: options.gatewayPort, basePort: options.basePort })
  if (options.trustDomain) config.trustDomain = options.trustDomain
  await initCaMaterial(paths, { trustDomain: config.trustDomain })
  await issueOperatorCertificate(paths, { trustDomain: config.trustDomain })
  writeSecretFile(paths.masterKey, randomBytes(32).toString('base64') + '\n')
  // Written last: its presence marks a complete home.
  writeFileAtomic(paths.config, JSON.stringify(config, null, 2) + '\n', 0o600)
  return true
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { positionals, flags } = parseArgs(args, { force: 'boolean', 'gateway-port': 'string', 'base-port': 'string', 'trust-domain': 'string' })
  if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\``)
  const trustDomain = flags['trust-domain'] as string | undefined
  if (trustDomain !== undefined && !/^[a-z0-9._-]{1,255}$/.test(trustDomain)) throw new UsageError('`--trust-domain` must be lowercase letters, digits, dots, dashes or underscores')
  const created = await initHome(ctx.home, {
    force: flags.force === true,
    gatewayPort: intFlag(flags, 'gateway-port', 1, 65535),
    basePort: intFlag(flags, 'base-port', 1, 65000),
    trustDomain,
  })
  if (!created) {
    ctx.err(`bulwark: a home already exists at \`${ctx.home}\`; nothing changed (use --force to replace it and every key in it)`)
    return 1
  }
  if (ctx.json) ctx.out(JSON.stringify({ home: ctx.home, created: true }))
  else ctx.out(`created Bulwark home at ${ctx.home}\n  trust anchor: ${ctx.paths.rootCert}\n  operator certificate: ${ctx.paths.operatorCert}`)
  return 0
}
