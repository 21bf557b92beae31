// The audit service's store: its SQLite file (synchronous=FULL: a COMMIT
// returns after fsync, so a batch acknowledged after its commit survives
// kill -9 and power loss), or schema `bulwark_audit` on PostgreSQL. One row
// per log entry; `data` holds the exact leaf bytes. The SQLite migrations are
// the ones the file always had (PRAGMA user_version 1 and 2).
import { openStore, type BootstrapMessage, type Migration, type SqlStore } from '@bulwark/core'

const SQLITE = [
  `CREATE TABLE entries (
     seq INTEGER PRIMARY KEY,
     event_id TEXT NOT NULL UNIQUE,
     type TEXT NOT NULL,
     data TEXT NOT NULL,
     leaf_hash BLOB NOT NULL
   );
   CREATE INDEX entries_type ON entries (type, seq);
   CREATE TABLE tree_heads (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     tree_size INTEGER NOT NULL,
     root_hash TEXT NOT NULL,
     timestamp INTEGER NOT NULL,
     signature TEXT NOT NULL,
     key_id TEXT NOT NULL
   );
   CREATE INDEX tree_heads_size ON tree_heads (tree_size);
   CREATE TABLE alerts (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     detector TEXT NOT NULL,
     severity TEXT NOT NULL,
     key TEXT NOT NULL,
     summary TEXT NOT NULL,
     time INTEGER NOT NULL,
     details TEXT NOT NULL,
     response TEXT
   );
   CREATE TABLE blocks (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     value TEXT NOT NULL,
     reason TEXT NOT NULL,
     alert_id TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  // Archive cuts (retention): entries [first_index, tree_size) went to the
  // segment file; the signed head at the cut and its frontier stay here so
  // the log keeps proving itself from the cut on.
  `CREATE TABLE checkpoints (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     first_index INTEGER NOT NULL,
     tree_size INTEGER NOT NULL UNIQUE,
     root_hash TEXT NOT NULL,
     timestamp INTEGER NOT NULL,
     signature TEXT NOT NULL,
     key_id TEXT NOT NULL,
     frontier TEXT NOT NULL,
     segment TEXT NOT NULL,
     segment_sha256 TEXT NOT NULL
   );`,
] as const

const POSTGRES = [
  `CREATE TABLE entries (
     seq BIGINT PRIMARY KEY,
     event_id TEXT NOT NULL UNIQUE,
     type TEXT NOT NULL,
     data TEXT NOT NULL,
     leaf_hash BYTEA NOT NULL
   );
   CREATE INDEX entries_type ON entries (type, seq);
   CREATE TABLE tree_heads (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     tree_size BIGINT NOT NULL,
     root_hash TEXT NOT NULL,
     timestamp BIGINT NOT NULL,
     signature TEXT NOT NULL,
     key_id TEXT NOT NULL
   );
   CREATE INDEX tree_heads_size ON tree_heads (tree_size);
   CREATE TABLE alerts (
     seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     detector TEXT NOT NULL,
     severity TEXT NOT NULL,
     key TEXT NOT NULL,
     summary TEXT NOT NULL,
     time BIGINT NOT NULL,
     details TEXT NOT NULL,
     response TEXT
   );
   CREATE TABLE blocks (
     seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     kind TEXT NOT NULL,
     value TEXT NOT NULL,
     reason TEXT NOT NULL,
     alert_id TEXT,
     created_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL
   );`,
  `CREATE TABLE checkpoints (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     first_index BIGINT NOT NULL,
     tree_size BIGINT NOT NULL UNIQUE,
     root_hash TEXT NOT NULL,
     timestamp BIGINT NOT NULL,
     signature TEXT NOT NULL,
     key_id TEXT NOT NULL,
     frontier TEXT NOT NULL,
     segment TEXT NOT NULL,
     segment_sha256 TEXT NOT NULL
   );`,
] as const

export const AUDIT_MIGRATIONS: readonly Migration[] = SQLITE.map((sqlite, i) => ({ sqlite, postgres: POSTGRES[i]! }))

export type EntryRow = { seq: number; data: string; leaf_hash: Uint8Array }

export type AuditStoreOptions = { sqlitePath: string; storage?: BootstrapMessage['storage'] }

export function openAuditStore(options: AuditStoreOptions): Promise<SqlStore> {
  return openStore('audit', { storage: options.storage, sqlitePath: options.sqlitePath, migrations: AUDIT_MIGRATIONS, synchronous: 'FULL' })
}
