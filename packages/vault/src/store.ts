// The vault's SQLite schema (one file, WAL, synchronous=FULL via core's
// openDatabase). Values, data keys and transit key material are stored only
// sealed; paths, versions and who/when metadata are stored in the clear.
import { openDatabase, type Database } from '@bulwark/core'

const MIGRATIONS = [
  `CREATE TABLE kek (
     version INTEGER PRIMARY KEY, salt BLOB NOT NULL, check_mac BLOB NOT NULL, created_at INTEGER NOT NULL);
   CREATE TABLE kv_meta (
     path TEXT PRIMARY KEY, current_version INTEGER NOT NULL, max_versions INTEGER,
     cas_required INTEGER NOT NULL DEFAULT 0, revision INTEGER NOT NULL DEFAULT 1,
     created_at INTEGER NOT NULL, created_by TEXT NOT NULL, updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL);
   CREATE TABLE kv_versions (
     path TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL,
     deleted_at INTEGER, deleted_by TEXT, destroyed INTEGER NOT NULL DEFAULT 0,
     kek_version INTEGER, wrapped_dek BLOB, ciphertext BLOB,
     PRIMARY KEY (path, version));
   CREATE TABLE transit_keys (
     name TEXT PRIMARY KEY, latest_version INTEGER NOT NULL, min_decryption_version INTEGER NOT NULL DEFAULT 1,
     created_at INTEGER NOT NULL, created_by TEXT NOT NULL, updated_at INTEGER NOT NULL);
   CREATE TABLE transit_key_versions (
     name TEXT NOT NULL REFERENCES transit_keys(name) ON DELETE CASCADE, version INTEGER NOT NULL,
     kek_version INTEGER NOT NULL, wrapped_key BLOB NOT NULL, created_at INTEGER NOT NULL,
     PRIMARY KEY (name, version));`,
]

export function openVaultDatabase(path: string): Database {
  const db = openDatabase(path, { migrations: MIGRATIONS, synchronous: 'FULL' })
  // Deleted rows (destroyed versions, shredded transit keys) are overwritten, not left in free pages.
  db.exec('PRAGMA secure_delete = ON')
  return db
}
