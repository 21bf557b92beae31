// The vault's schema on its SqlStore: its SQLite file by default (WAL,
// synchronous=FULL, secure_delete), schema `bulwark_vault` on PostgreSQL when
// configured. Values, data keys and transit key material are stored only
// sealed; paths, versions and who/when metadata in the clear. The master key
// never reaches either engine: it stays in its file (or the KMS).
import { openStore, type BootstrapMessage, type Migration, type SqlStore } from '@bulwark/core'

// Version 1 is the SQLite schema the vault always had, so existing files carry on.
// On PostgreSQL, paths and names sort bytewise (COLLATE "C"), as on SQLite, so
// prefix listing by range (`path >= 'a/' AND path < 'a/\x7f'`) holds.
export const VAULT_MIGRATIONS: readonly Migration[] = [{
  sqlite: `CREATE TABLE kek (
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
  postgres: `CREATE TABLE kek (
     version INTEGER PRIMARY KEY, salt BYTEA NOT NULL, check_mac BYTEA NOT NULL, created_at BIGINT NOT NULL);
   CREATE TABLE kv_meta (
     path TEXT COLLATE "C" PRIMARY KEY, current_version INTEGER NOT NULL, max_versions INTEGER,
     cas_required INTEGER NOT NULL DEFAULT 0, revision BIGINT NOT NULL DEFAULT 1,
     created_at BIGINT NOT NULL, created_by TEXT NOT NULL, updated_at BIGINT NOT NULL, updated_by TEXT NOT NULL);
   CREATE TABLE kv_versions (
     path TEXT COLLATE "C" NOT NULL, version INTEGER NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL,
     deleted_at BIGINT, deleted_by TEXT, destroyed INTEGER NOT NULL DEFAULT 0,
     kek_version INTEGER, wrapped_dek BYTEA, ciphertext BYTEA,
     PRIMARY KEY (path, version));
   CREATE TABLE transit_keys (
     name TEXT COLLATE "C" PRIMARY KEY, latest_version INTEGER NOT NULL, min_decryption_version INTEGER NOT NULL DEFAULT 1,
     created_at BIGINT NOT NULL, created_by TEXT NOT NULL, updated_at BIGINT NOT NULL);
   CREATE TABLE transit_key_versions (
     name TEXT COLLATE "C" NOT NULL REFERENCES transit_keys(name) ON DELETE CASCADE, version INTEGER NOT NULL,
     kek_version INTEGER NOT NULL, wrapped_key BYTEA NOT NULL, created_at BIGINT NOT NULL,
     PRIMARY KEY (name, version));`,
}]

export type VaultStoreOptions = { sqlitePath: string; storage?: BootstrapMessage['storage'] }

export async function openVaultStore(options: VaultStoreOptions): Promise<SqlStore> {
  const store = await openStore('vault', { storage: options.storage, sqlitePath: options.sqlitePath, migrations: VAULT_MIGRATIONS, synchronous: 'FULL' })
  // SQLite: deleted rows (destroyed versions, shredded transit keys) are overwritten, not left in free pages.
  if (store.dialect === 'sqlite') await store.run('PRAGMA secure_delete = ON')
  return store
}

/** PostgreSQL needs the row lock SQLite's one writer already gives: `FOR UPDATE` there, nothing here. */
export const forUpdate = (store: { dialect: string }): string => (store.dialect === 'postgres' ? ' FOR UPDATE' : '')

/** SQLSTATEs after which PostgreSQL rolled a whole transaction back and retrying it may succeed. */
export const isRetryable = (error: unknown): boolean => {
  const state = (error as { sqlState?: unknown } | undefined)?.sqlState
  return state === '40P01' || state === '40001'
}
