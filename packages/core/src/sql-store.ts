// The async SQL store every component's repository sits on: one contract,
// two engines. Embedded SQLite (node:sqlite, one file per component) by
// default; PostgreSQL (`pg`, one schema `bulwark_<component>` per component)
// when the bootstrap carries `storage.postgres.url`.
//
// Component SQL is written once with `?` positional placeholders; the
// PostgreSQL store rewrites them to `$1, $2, …` (outside string literals,
// quoted identifiers and comments). Write SQL both engines accept
// (`INSERT … RETURNING`, `ON CONFLICT … DO UPDATE`, `COUNT(*)`), and give a
// migration per dialect where they differ (column types, identity columns).
import { AsyncLocalStorage } from 'node:async_hooks'
import type { BootstrapMessage } from './bootstrap.ts'
import { BulwarkError, defineError } from './errors.ts'

export type SqlDialect = 'sqlite' | 'postgres'
/** A bound parameter. Booleans are stored as 0/1 by the caller (SQLite has none). */
export type SqlValue = string | number | bigint | null | Uint8Array

export type SqlResult<T> = { rows: T[]; changes: number }

/** What runs statements: the store itself, or the handle of an open transaction. */
export type SqlExecutor = {
  readonly dialect: SqlDialect
  /** Any statement; `rows` holds what it returned (e.g. `RETURNING`), `changes` the rows it touched. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<SqlResult<T>>
  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>
  /** The first row, or undefined. */
  one<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>
}

export type SqlStore = SqlExecutor & {
  readonly component: string
  /** Where the data lives, safe to log: `sqlite <path>` or `postgres host:port/db schema bulwark_x`. */
  readonly location: string
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when
   * it throws. Inside, use `tx` only: the store itself refuses to run a
   * statement from within its own transaction (it would run outside it).
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>
  close(): Promise<void>
  /**
   * PostgreSQL only: one dedicated connection, for what belongs to a session
   * (a session-level advisory lock). What runs on it runs on that connection,
   * so while the session holds a lock, its transactions are the lock holder's.
   */
  session?(): Promise<SqlSession>
}

/**
 * One dedicated connection (PostgreSQL). Statements and transactions take
 * turns on it. When the connection fails, `lost` resolves and every later
 * statement is refused (BW_STORE_UNAVAILABLE); its session locks are gone.
 */
export type SqlSession = SqlExecutor & {
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>
  readonly alive: boolean
  /** Resolves once the connection is lost or released. */
  readonly lost: Promise<void>
  /** Closes the connection (its session locks go with it). */
  release(): Promise<void>
}

/** A schema change: one SQL text for both engines, or one per dialect. Several statements may be given, separated by `;`. */
export type Migration = string | { readonly sqlite: string; readonly postgres: string }

export type StoreLog = { warn(obj: object, msg: string): void }

export type OpenStoreOptions = {
  /** The bootstrap's `storage`: with `postgres.url`, PostgreSQL; otherwise SQLite at `sqlitePath`. */
  storage?: BootstrapMessage['storage']
  /** The component's SQLite file (`paths.database(component)`). */
  sqlitePath: string
  /** Applied once each, in order; the 1-based position is the schema version. */
  migrations?: readonly Migration[]
  /** SQLite only: FULL survives power loss; NORMAL survives a process crash (kill -9). Default FULL. */
  synchronous?: 'FULL' | 'NORMAL' | 'OFF'
  /** PostgreSQL only: connections in the pool (default 10). */
  poolSize?: number
  log?: StoreLog
}

export const StoreErrors = {
  unavailable: defineError('BW_STORE_UNAVAILABLE', 503, 'the database is unavailable'),
  migrationFailed: defineError('BW_STORE_MIGRATION_FAILED', 500, 'a schema migration failed'),
  queryFailed: defineError('BW_STORE_QUERY_FAILED', 500, 'a database statement failed'),
} as const

const COMPONENT = /^[a-z][a-z0-9_]{0,39}$/

/** The PostgreSQL schema of a component: `bulwark_<component>` (dashes become underscores). */
export function schemaOf(component: string): string {
  const name = component.replaceAll('-', '_')
  if (!COMPONENT.test(name)) throw new TypeError(`component name \`${component}\` cannot name a schema`)
  return `bulwark_${name}`
}

/** The migration text for `dialect`. */
export function migrationSql(migration: Migration, dialect: SqlDialect): string {
  return typeof migration === 'string' ? migration : migration[dialect]
}

/**
 * Opens the component's store: PostgreSQL when `storage.postgres.url` is set,
 * else the SQLite file. Migrations run before it resolves.
 *
 * @example
 * const store = await openStore('catalog', { storage: rt.bootstrap.storage, sqlitePath: rt.paths.database('catalog'), migrations })
 * const row = await store.one<{ n: number }>('SELECT COUNT(*) AS n FROM products WHERE price > ?', [100])
 */
export async function openStore(component: string, options: OpenStoreOptions): Promise<SqlStore> {
  schemaOf(component)
  const url = options.storage?.postgres?.url
  if (url) {
    const { openPostgresStore } = await import('./store-postgres.ts')
    return await openPostgresStore(component, url, options)
  }
  const { openSqliteStore } = await import('./store-sqlite.ts')
  return openSqliteStore(component, options.sqlitePath, options)
}

/** True when `error` is a unique-constraint violation, on either engine. */
export function isUniqueViolation(error: unknown): boolean {
  const state = (error as { sqlState?: unknown } | undefined)?.sqlState
  return state === '23505' || state === 'SQLITE_CONSTRAINT_UNIQUE' || state === 'SQLITE_CONSTRAINT_PRIMARYKEY'
}

/** A failed statement: `sqlState` is PostgreSQL's SQLSTATE or SQLite's extended code name. */
export class StoreQueryError extends BulwarkError {
  readonly sqlState: string
  constructor(message: string, sqlState: string) {
    super(StoreErrors.queryFailed.code, 500, message)
    this.sqlState = sqlState
  }
}

/**
 * Guards the "statement on the store from inside its own transaction" mistake,
 * which would run outside the transaction (or wait for it forever).
 */
export function createTransactionGuard() {
  const inside = new AsyncLocalStorage<object>()
  const open = new Set<object>()
  return {
    check(): void {
      const token = inside.getStore()
      if (token !== undefined && open.has(token)) {
        throw new TypeError('a statement ran on the store inside its own transaction: use the `tx` handle')
      }
    },
    /** Runs `fn` marked as inside a transaction until it settles. */
    run<T>(fn: () => Promise<T>): Promise<T> {
      const token = {}
      open.add(token)
      return inside.run(token, fn).finally(() => open.delete(token))
    },
  }
}
