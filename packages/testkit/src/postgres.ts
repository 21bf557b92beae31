// A real PostgreSQL for tests, from Debian's `postgresql` package (.ci/run
// installs it): initdb + pg_ctl in a temp dir, on a random loopback port, its
// unix socket in that dir too, password (SCRAM) authentication only. As root
// the server must run as the `postgres` OS user (it refuses root), so the dir
// is handed to that user and the binaries run through `runuser`.
import { spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { freePort } from './ports.ts'

export type PostgresBinaries = { initdb: string; pgCtl: string }

export type TestPostgres = {
  /** `postgres://bulwark_test:<password>@127.0.0.1:<port>/bulwark`: a superuser, for set-up. */
  url: string
  host: string
  port: number
  password: string
  /** The URL of database `name` (same superuser). */
  urlFor(database: string, user?: { name: string; password: string }): string
  /** Creates a fresh database and returns its URL: one per test keeps tests apart. */
  createDatabase(prefix?: string): Promise<string>
  /** Runs SQL as the superuser on `database` (default `bulwark`). */
  admin(sql: string, database?: string): Promise<pg.QueryResult>
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** initdb and pg_ctl from PATH or /usr/lib/postgresql/<version>/bin (newest first). */
export function findPostgresBinaries(): PostgresBinaries | undefined {
  const onPath = (name: string) => (process.env.PATH ?? '').split(delimiter).map((d) => join(d, name)).find((p) => existsSync(p))
  const initdb = onPath('initdb')
  const pgCtl = onPath('pg_ctl')
  if (initdb && pgCtl) return { initdb, pgCtl }
  const base = '/usr/lib/postgresql'
  if (!existsSync(base)) return undefined
  const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
  for (const version of versions) {
    const bin = join(base, version, 'bin')
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return { initdb: join(bin, 'initdb'), pgCtl: join(bin, 'pg_ctl') }
  }
  return undefined
}

const isRoot = process.getuid?.() === 0
function postgresUser(): { uid: number; gid: number } | undefined {
  const out = spawnSync('id', ['postgres'], { encoding: 'utf8' })
  const uid = /uid=(\d+)/.exec(out.stdout)?.[1]
  const gid = /gid=(\d+)/.exec(out.stdout)?.[1]
  return uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined
}

/** Why PostgreSQL tests cannot run here, or false when they can: pass as `{ skip }`. */
export function postgresSkipReason(): string | false {
  if (!findPostgresBinaries()) return 'PostgreSQL server binaries (initdb, pg_ctl) are not installed (.ci/run installs Debian\'s postgresql)'
  if (isRoot && !postgresUser()) return 'running as root without a `postgres` OS user to run the server as (install Debian\'s postgresql)'
  return false
}

function run(bin: string, args: string[], what: string): void {
  const [command, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args]
  const result = spawnSync(command, argv, { encoding: 'utf8', timeout: 60_000 })
  if (result.status !== 0) throw new Error(`${what} failed (${result.status ?? result.signal}): ${result.stderr || result.stdout}`)
}

/**
 * Starts a throwaway PostgreSQL cluster and returns its superuser URL.
 *
 * @example
 * await using pg = await startPostgres()
 * const url = await pg.createDatabase()
 */
export async function startPostgres(options: {
  /** fsync and synchronous commit on, as in production (benchmarks of durable writes); tests run faster without. */
  durable?: boolean
} = {}): Promise<TestPostgres> {
  const bins = findPostgresBinaries()
  if (!bins) throw new Error(postgresSkipReason() || 'no PostgreSQL binaries')
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-pg-'))
  const owner = isRoot ? postgresUser() : undefined
  if (owner) chownSync(dir, owner.uid, owner.gid)
  const password = randomBytes(18).toString('base64url')
  const user = 'bulwark_test'
  const pwfile = join(dir, 'pw')
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 })
  if (owner) chownSync(pwfile, owner.uid, owner.gid)
  const data = join(dir, 'data')
  let started = false
  const stopSync = () => {
    if (started) spawnSync(isRoot ? 'runuser' : bins.pgCtl, isRoot ? ['-u', 'postgres', '--', bins.pgCtl, '-D', data, '-m', 'immediate', '-w', 'stop'] : ['-D', data, '-m', 'immediate', '-w', 'stop'], { timeout: 30_000 })
    started = false
    rmSync(dir, { recursive: true, force: true })
  }
  // A test process that dies must not leave a server behind.
  process.once('exit', stopSync)
  try {
    run(bins.initdb, ['-D', data, '-U', user, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'], 'initdb')
    rmSync(pwfile)
    // Password authentication only: the socket and loopback, SCRAM, nothing else.
    writeFileSync(join(data, 'pg_hba.conf'), 'local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n')
    let port = 0
    for (let attempt = 0; ; attempt++) {
      port = await freePort()
      const durability = options.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off'
      const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1${durability} -c max_connections=200 -c shared_buffers=16MB`
      try {
        run(bins.pgCtl, ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', opts, 'start'], 'pg_ctl start')
        started = true
        break
      } catch (error) {
        if (attempt >= 2) throw error
      }
    }
    const urlFor = (database: string, as = { name: user, password }) =>
      `postgres://${encodeURIComponent(as.name)}:${encodeURIComponent(as.password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`
    const admin = async (sql: string, database = 'bulwark') => {
      const client = new pg.Client({ connectionString: urlFor(database) })
      await client.connect()
      try { return await client.query(sql) } finally { await client.end() }
    }
    await admin('CREATE DATABASE bulwark', 'postgres')
    const stop = async () => {
      process.off('exit', stopSync)
      stopSync()
    }
    return {
      url: urlFor('bulwark'), host: '127.0.0.1', port, password, urlFor, admin,
      async createDatabase(prefix = 't') {
        const name = `${prefix}_${randomBytes(6).toString('hex')}`
        await admin(`CREATE DATABASE ${name}`, 'postgres')
        return urlFor(name)
      },
      stop,
      [Symbol.asyncDispose]: stop,
    }
  } catch (error) {
    process.off('exit', stopSync)
    stopSync()
    throw error
  }
}
