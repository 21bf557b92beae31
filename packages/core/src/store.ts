// Embedded storage: one SQLite file per component (node:sqlite), WAL mode,
// migrations by PRAGMA user_version. Components define their own repository
// interfaces on top; PostgreSQL implementations come behind those.
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'

export type Database = {
  readonly path: string
  exec(sql: string): void
  prepare(sql: string): StatementSync
  /** Runs `fn` in BEGIN IMMEDIATE … COMMIT, rolling back on a throw. Not re-entrant. */
  transaction<T>(fn: () => T): T
  close(): void
  readonly raw: DatabaseSync
}

export type OpenDatabaseOptions = {
  /** Each entry is applied once, in order; the index is the schema version. */
  migrations?: readonly string[]
  /** FULL survives power loss; NORMAL survives a process crash (kill -9). Default FULL. */
  synchronous?: 'FULL' | 'NORMAL' | 'OFF'
}

export function openDatabase(path: string, options: OpenDatabaseOptions = {}): Database {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    // Create the file with owner-only permissions before SQLite touches it.
    closeSync(openSync(path, 'a', 0o600))
    chmodSync(path, 0o600)
  }
  const db = new DatabaseSync(path)
  db.exec('PRAGMA journal_mode = WAL')
  db.exec(`PRAGMA synchronous = ${options.synchronous ?? 'FULL'}`)
  db.exec('PRAGMA foreign_keys = ON')
  db.exec('PRAGMA busy_timeout = 5000')
  const migrations = options.migrations ?? []
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number }
  for (let version = row.user_version; version < migrations.length; version++) {
    db.exec('BEGIN IMMEDIATE')
    try {
      db.exec(migrations[version]!)
      db.exec(`PRAGMA user_version = ${version + 1}`)
      db.exec('COMMIT')
    } catch (error) {
      db.exec('ROLLBACK')
      throw error
    }
  }
  let depth = 0
  return {
    path,
    raw: db,
    exec: (sql) => db.exec(sql),
    prepare: (sql) => db.prepare(sql),
    transaction<T>(fn: () => T): T {
      if (depth > 0) throw new TypeError('nested transactions are not supported')
      depth++
      db.exec('BEGIN IMMEDIATE')
      try {
        const result = fn()
        db.exec('COMMIT')
        return result
      } catch (error) {
        if (db.isTransaction) db.exec('ROLLBACK')
        throw error
      } finally {
        depth--
      }
    },
    close: () => { if (db.isOpen) db.close() },
  }
}
