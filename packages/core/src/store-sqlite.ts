// The SqlStore on embedded SQLite (node:sqlite): one owner-only file per
// component, WAL, `synchronous` as asked, versions in PRAGMA user_version
// (the same as `openDatabase`, so existing files carry on). node:sqlite is
// synchronous and has one connection: statements and transactions take turns
// through a queue, so a transaction that awaits never lets another caller's
// statement slip into it.
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import {
  StoreErrors, StoreQueryError, createTransactionGuard, migrationSql,
  type OpenStoreOptions, type SqlExecutor, type SqlResult, type SqlStore, type SqlValue,
} from './sql-store.ts'

const MAX_CACHED_STATEMENTS = 256

/** Creates the file (and folder) owner-only before SQLite touches it. */
export function prepareDatabaseFile(path: string): void {
  if (path === ':memory:') return
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  closeSync(openSync(path, 'a', 0o600))
  chmodSync(path, 0o600)
}

const EXTENDED_CODES: Record<number, string> = {
  1555: 'SQLITE_CONSTRAINT_PRIMARYKEY', 2067: 'SQLITE_CONSTRAINT_UNIQUE', 787: 'SQLITE_CONSTRAINT_FOREIGNKEY',
  1299: 'SQLITE_CONSTRAINT_NOTNULL', 275: 'SQLITE_CONSTRAINT_CHECK', 5: 'SQLITE_BUSY', 1: 'SQLITE_ERROR',
}

function wrap(error: unknown): Error {
  if (error instanceof TypeError || error instanceof StoreQueryError) return error
  const e = error as { errcode?: number; message?: string }
  const state = e.errcode === undefined ? 'SQLITE_ERROR' : EXTENDED_CODES[e.errcode] ?? `SQLITE_${e.errcode}`
  return new StoreQueryError(`sqlite: ${e.message ?? String(error)}`, state)
}

function checkParams(params: readonly SqlValue[]): SqlValue[] {
  return params.map((p, i) => {
    if (p === undefined) throw new TypeError(`SQL parameter ${i + 1} is undefined`)
    return p
  })
}

export function openSqliteStore(component: string, path: string, options: Pick<OpenStoreOptions, 'migrations' | 'synchronous'>): SqlStore {
  prepareDatabaseFile(path)
  const db = new DatabaseSync(path)
  try {
    // First, so that replicas opening the file together wait for each other instead of failing.
    db.exec('PRAGMA busy_timeout = 5000')
    db.exec('PRAGMA journal_mode = WAL')
    db.exec(`PRAGMA synchronous = ${options.synchronous ?? 'FULL'}`)
    db.exec('PRAGMA foreign_keys = ON')
    migrate(db, options.migrations ?? [])
  } catch (error) {
    db.close()
    throw error
  }

  const statements = new Map<string, StatementSync>()
  function statement(sql: string): StatementSync {
    let stmt = statements.get(sql)
    if (!stmt) {
      if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear()
      stmt = db.prepare(sql)
      statements.set(sql, stmt)
    }
    return stmt
  }

  function query<T>(sql: string, params: readonly SqlValue[] = []): SqlResult<T> {
    try {
      const stmt = statement(sql)
      const values = checkParams(params)
      if (stmt.columns().length > 0) {
        // node:sqlite rows have a null prototype; PostgreSQL's are plain objects. Make them alike.
        const rows = stmt.all(...values).map((row) => ({ ...row })) as T[]
        return { rows, changes: rows.length }
      }
      const result = stmt.run(...values)
      return { rows: [], changes: Number(result.changes) }
    } catch (error) {
      throw wrap(error)
    }
  }

  // One connection: everything takes its turn.
  let tail: Promise<unknown> = Promise.resolve()
  function inTurn<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = tail.then(fn)
    tail = result.catch(() => {})
    return result
  }

  const guard = createTransactionGuard()
  let closed = false
  function executor(isOpen: () => boolean, direct: boolean): SqlExecutor {
    const exec = <T>(sql: string, params?: readonly SqlValue[]): Promise<SqlResult<T>> => {
      if (!isOpen()) return Promise.reject(new TypeError('the transaction is over: its `tx` handle cannot run statements'))
      if (closed) return Promise.reject(StoreErrors.unavailable(`store \`${component}\` is closed`))
      if (direct) {
        try { return Promise.resolve(query<T>(sql, params)) } catch (error) { return Promise.reject(error) }
      }
      try { guard.check() } catch (error) { return Promise.reject(error) }
      return inTurn(() => query<T>(sql, params))
    }
    return {
      dialect: 'sqlite',
      query: exec,
      all: async (sql, params) => (await exec(sql, params)).rows as never,
      one: async (sql, params) => (await exec(sql, params)).rows[0] as never,
      run: async (sql, params) => ({ changes: (await exec(sql, params)).changes }),
    }
  }

  const top = executor(() => true, false)
  return {
    ...top,
    component,
    location: `sqlite ${path}`,
    transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      try { guard.check() } catch (error) { return Promise.reject(error) }
      return inTurn(() => guard.run(async () => {
        let open = true
        db.exec('BEGIN IMMEDIATE')
        try {
          const result = await fn(executor(() => open, true))
          db.exec('COMMIT')
          return result
        } catch (error) {
          if (db.isTransaction) db.exec('ROLLBACK')
          throw error
        } finally {
          open = false
        }
      }))
    },
    async close() {
      if (closed) return
      closed = true
      await tail
      statements.clear()
      if (db.isOpen) db.close()
    },
  }
}

/**
 * Applies every pending migration in one IMMEDIATE transaction, reading the
 * version inside it: a second process starting at once waits for the first
 * and then finds nothing to do; a failure rolls all of them back.
 */
function migrate(db: DatabaseSync, migrations: OpenStoreOptions['migrations'] & object): void {
  if (migrations.length === 0) return
  db.exec('BEGIN IMMEDIATE')
  try {
    const current = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
    for (let version = current; version < migrations.length; version++) {
      try {
        db.exec(migrationSql(migrations[version]!, 'sqlite'))
      } catch (error) {
        throw StoreErrors.migrationFailed(`migration ${version + 1}: ${(error as Error).message}`)
      }
    }
    if (current < migrations.length) db.exec(`PRAGMA user_version = ${migrations.length}`)
    db.exec('COMMIT')
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK')
    throw error
  }
}
