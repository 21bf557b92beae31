// Where the components keep their state, as the supervisor tells them in the
// bootstrap: BULWARK_DATABASE_URL (the environment wins) or
// `storage.postgres.url`, with the password from `storage.postgres.passwordFile`
// when the URL has none. Only the CLI reads these; components get the
// resolved URL over IPC, never through their environment.
import { readFileSync, statSync } from 'node:fs'
import { checkPostgresUrl, describePostgresUrl, postgresUrlHasPassword, withPostgresPassword, type BootstrapMessage, type PlatformConfig } from '@bulwark/core/base'
import { CliError } from '../context.ts'

export const DATABASE_URL_ENV = 'BULWARK_DATABASE_URL'

export type StorageSummary = { engine: 'sqlite' } | { engine: 'postgres'; host: string; port: number; database: string; user: string }

function chosenUrl(config: PlatformConfig, environment: NodeJS.ProcessEnv): { url: string; source: string } | undefined {
  const fromEnv = environment[DATABASE_URL_ENV]
  if (fromEnv !== undefined && fromEnv !== '') return { url: fromEnv, source: DATABASE_URL_ENV }
  const url = config.storage?.postgres?.url
  return url ? { url, source: 'storage.postgres.url' } : undefined
}

function readPasswordFile(path: string): string {
  let mode: number
  try {
    mode = statSync(path).mode & 0o777
  } catch (error) {
    throw new CliError(`storage.postgres.passwordFile \`${path}\`: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  if ((mode & 0o077) !== 0) {
    throw new CliError(`storage.postgres.passwordFile \`${path}\` must be mode 0600 or 0400 (it is 0${mode.toString(8)})`)
  }
  const password = readFileSync(path, 'utf8').replace(/\r?\n$/, '')
  if (password === '') throw new CliError(`storage.postgres.passwordFile \`${path}\` is empty`)
  return password
}

/** The bootstrap's `storage` (URL with its password), or undefined for embedded SQLite. Throws a CliError naming no secret. */
export function resolveStorage(config: PlatformConfig, environment: NodeJS.ProcessEnv = process.env): BootstrapMessage['storage'] {
  const chosen = chosenUrl(config, environment)
  if (!chosen) return undefined
  try {
    checkPostgresUrl(chosen.url)
  } catch (error) {
    throw new CliError(`${chosen.source}: ${(error as Error).message}`)
  }
  const passwordFile = config.storage?.postgres?.passwordFile
  const url = !postgresUrlHasPassword(chosen.url) && passwordFile ? withPostgresPassword(chosen.url, readPasswordFile(passwordFile)) : chosen.url
  return { postgres: { url } }
}

/** What `status` shows: the engine, and for PostgreSQL host, port, database and user — never the password. */
export function describeStorage(config: PlatformConfig, environment: NodeJS.ProcessEnv = process.env): StorageSummary {
  const chosen = chosenUrl(config, environment)
  if (!chosen) return { engine: 'sqlite' }
  try {
    return { engine: 'postgres', ...describePostgresUrl(chosen.url) }
  } catch (error) {
    throw new CliError(`${chosen.source}: ${(error as Error).message}`)
  }
}
