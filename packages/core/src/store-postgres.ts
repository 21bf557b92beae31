// The SqlStore on PostgreSQL (`pg` Pool). Each component lives in its own
// schema, `bulwark_<component>`, set as the search_path of every connection
// at start-up (the `options` startup parameter), so component SQL names its
// tables unqualified on both engines. Migrations run at start in one
// transaction under pg_advisory_xact_lock(hash of the schema): replicas that
// start together migrate once, and a failed migration leaves nothing behind.
// No error, log line or `location` carries the URL or its password.
import { createHash } from 'node:crypto'
import pg from 'pg'
import { describePostgresUrl, postgresLabel, postgresPassword, checkPostgresUrl } from './postgres-url.ts'
import { toPostgresPlaceholders } from './sql-placeholders.ts'
import {
  StoreErrors, StoreQueryError, createTransactionGuard, migrationSql, schemaOf,
  type Migration, type OpenStoreOptions, type SqlExecutor, type SqlResult, type SqlSession, type SqlStore, type SqlValue,
} from './sql-store.ts'

const INT8 = 20
/** SQLSTATE classes that mean "cannot reach or use the database", not "this statement is wrong". */
const UNAVAILABLE = /^(08|28|3D|53|57P)/

/** COUNT(*) and BIGINT come back as numbers, as on SQLite (BigInt beyond 2^53). */
function typeParser(oid: number, format?: string): (value: string) => unknown {
  if (oid === INT8 && format !== 'binary') {
    return (value) => {
      const n = Number(value)
      return Number.isSafeInteger(n) ? n : BigInt(value)
    }
  }
  return pg.types.getTypeParser(oid, format as 'text') as (value: string) => unknown
}

function migrationLockKey(schema: string): string {
  return createHash('sha256').update(`bulwark:migrate:${schema}`).digest().readBigInt64BE(0).toString()
}

export async function openPostgresStore(component: string, url: string, options: Pick<OpenStoreOptions, 'migrations' | 'poolSize' | 'log'>): Promise<SqlStore> {
  checkPostgresUrl(url)
  const schema = schemaOf(component)
  const label = postgresLabel(url)
  const secret = postgresPassword(url)
  const scrub = (text: string): string => {
    let out = text.replaceAll(url, '[url]')
    if (secret.length > 0) out = out.replaceAll(secret, '[redacted]').replaceAll(encodeURIComponent(secret), '[redacted]')
    return out
  }
  /** Every error leaving the store: SQL errors keep their SQLSTATE, connection errors name host/db only. */
  const toStoreError = (error: unknown): Error => {
    if (error instanceof TypeError || error instanceof StoreQueryError) return error
    const e = error as { code?: unknown; message?: unknown; severity?: unknown }
    const code = typeof e.code === 'string' ? e.code : undefined
    const message = scrub(typeof e.message === 'string' ? e.message : String(error))
    if (e.severity !== undefined && code !== undefined && !UNAVAILABLE.test(code)) return new StoreQueryError(`postgres: ${message}`, code)
    return StoreErrors.unavailable(`postgres ${label} (user \`${describePostgresUrl(url).user}\`): ${code && !message.includes(code) ? `${code}: ` : ''}${message}`)
  }

  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    options: `-c search_path=${schema}`,
    application_name: `bulwark-${component}`,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    types: { getTypeParser: typeParser as never },
  })
  // An idle connection the server drops must not crash the process; the next query reconnects.
  pool.on('error', (error) => options.log?.warn({ store: label, code: (error as { code?: string }).code }, 'an idle database connection failed'))

  const params = (sql: string, values: readonly SqlValue[]) => {
    const { text, count } = toPostgresPlaceholders(sql)
    if (count !== values.length) throw new TypeError(`the statement has ${count} placeholder(s) but ${values.length} parameter(s) were given`)
    return {
      text,
      values: values.map((v, i) => {
        if (v === undefined) throw new TypeError(`SQL parameter ${i + 1} is undefined`)
        return typeof v === 'bigint' ? v.toString() : v
      }),
    }
  }

  async function connect(): Promise<pg.PoolClient> {
    try {
      return await pool.connect()
    } catch (error) {
      throw toStoreError(error)
    }
  }

  try {
    await migrate(await connect(), schema, options.migrations ?? [], toStoreError)
  } catch (error) {
    await pool.end().catch(() => {})
    throw error
  }

  const guard = createTransactionGuard()
  let closed = false
  function executor(run: (q: { text: string; values: unknown[] }) => Promise<pg.QueryResult>, isOpen: () => boolean, top: boolean): SqlExecutor {
    async function query<T>(sql: string, values: readonly SqlValue[] = []): Promise<SqlResult<T>> {
      if (!isOpen()) throw new TypeError('the transaction is over: its `tx` handle cannot run statements')
      if (closed) throw StoreErrors.unavailable(`store \`${component}\` is closed`)
      if (top) guard.check()
      const q = params(sql, values)
      try {
        const result = await run(q)
        return { rows: result.rows as T[], changes: result.rowCount ?? 0 }
      } catch (error) {
        throw toStoreError(error)
      }
    }
    return {
      dialect: 'postgres',
      query,
      all: async (sql, values) => (await query(sql, values)).rows as never,
      one: async (sql, values) => (await query(sql, values)).rows[0] as never,
      run: async (sql, values) => ({ changes: (await query(sql, values)).changes }),
    }
  }

  /** BEGIN … COMMIT on `client`, ROLLBACK when `fn` or the commit throws; `broken` when even the rollback failed. */
  async function onClient<T>(client: pg.PoolClient, fn: (tx: SqlExecutor) => Promise<T>, broken: () => void): Promise<T> {
    let open = true
    try {
      await client.query('BEGIN').catch((error: unknown) => { throw toStoreError(error) })
      const result = await guard.run(() => fn(executor((q) => client.query(q), () => open, false)))
      open = false
      await client.query('COMMIT').catch((error: unknown) => { throw toStoreError(error) })
      return result
    } catch (error) {
      open = false
      await client.query('ROLLBACK').catch(() => broken())
      throw error
    }
  }

  return {
    ...executor((q) => pool.query(q), () => true, true),
    component,
    location: `postgres ${label} schema ${schema}`,
    async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      guard.check()
      if (closed) throw StoreErrors.unavailable(`store \`${component}\` is closed`)
      const client = await connect()
      let broken = false
      try {
        return await onClient(client, fn, () => { broken = true })
      } finally {
        // A connection whose rollback failed is in an unknown state: destroy it.
        client.release(broken ? true : undefined)
      }
    },
    async session(): Promise<SqlSession> {
      if (closed) throw StoreErrors.unavailable(`store \`${component}\` is closed`)
      const client = await connect()
      let alive = true
      let released = false
      let markLost!: () => void
      const lost = new Promise<void>((resolve) => { markLost = resolve })
      const drop = (error?: unknown) => {
        if (!alive) return
        alive = false
        if (error) options.log?.warn({ store: label, code: (error as { code?: string }).code }, 'a dedicated database connection failed')
        markLost()
      }
      client.on('error', drop)
      client.on('end', () => drop())
      let tail: Promise<unknown> = Promise.resolve()
      const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
        const result = tail.then(() => {
          if (!alive || closed) throw StoreErrors.unavailable(`postgres ${label}: the dedicated connection is gone`)
          return fn()
        })
        tail = result.catch(() => {})
        return result
      }
      const direct = executor((q) => client.query(q), () => true, false)
      const turn = <R>(call: () => Promise<R>): Promise<R> => inTurn(call)
      return {
        dialect: 'postgres',
        query: (sql, values) => turn(() => direct.query(sql, values)),
        all: (sql, values) => turn(() => direct.all(sql, values)),
        one: (sql, values) => turn(() => direct.one(sql, values)),
        run: (sql, values) => turn(() => direct.run(sql, values)),
        transaction: (fn) => inTurn(() => onClient(client, fn, () => drop(new Error('rollback failed')))),
        get alive() { return alive },
        lost,
        async release() {
          if (released) return
          released = true
          drop()
          // Destroyed, never back to the pool: its session (and locks) must end with it.
          client.release(true)
        },
      }
    },
    async close() {
      if (closed) return
      closed = true
      await pool.end()
    },
  }
}

/**
 * Creates the schema when missing (an operator may have created it, owned by
 * the component's role, with no right to create schemas), then applies every
 * pending migration, recording each version in `bulwark_migrations`.
 */
async function migrate(client: pg.PoolClient, schema: string, migrations: readonly Migration[], toStoreError: (e: unknown) => Error): Promise<void> {
  let broken = false
  let step = 'the migration lock'
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [migrationLockKey(schema)])
    step = `schema \`${schema}\``
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`)
    await client.query(`SET LOCAL search_path TO "${schema}"`)
    await client.query(`CREATE TABLE IF NOT EXISTS bulwark_migrations (
      version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
    const row = await client.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::integer AS v FROM bulwark_migrations')
    for (let version = row.rows[0]!.v; version < migrations.length; version++) {
      step = `migration ${version + 1}`
      await client.query(migrationSql(migrations[version]!, 'postgres'))
      await client.query('INSERT INTO bulwark_migrations (version) VALUES ($1)', [version + 1])
    }
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => { broken = true })
    const wrapped = toStoreError(error)
    if (wrapped instanceof StoreQueryError) throw StoreErrors.migrationFailed(`${schema}: ${step}: ${wrapped.message}`)
    throw wrapped
  } finally {
    client.release(broken ? true : undefined)
  }
}
