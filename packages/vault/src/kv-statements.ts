// The KV engine's SQL, one text for both engines except where noted.
import type { SqlDialect } from '@bulwark/core'

export type MetaRow = { path: string; current_version: number; max_versions: number | null; cas_required: number; revision: number; created_at: number; created_by: string; updated_at: number; updated_by: string }
export type VersionRow = { version: number; created_at: number; created_by: string; deleted_at: number | null; deleted_by: string | null; destroyed: number; kek_version: number | null; wrapped_dek: Uint8Array | null; ciphertext: Uint8Array | null }

export function kvStatements(dialect: SqlDialect) {
  const lock = dialect === 'postgres' ? ' FOR UPDATE' : ''
  return {
    meta: 'SELECT * FROM kv_meta WHERE path = ?',
    /** The metadata row, locked until the transaction ends (PostgreSQL; SQLite's writer is alone anyway). */
    lockMeta: `SELECT * FROM kv_meta WHERE path = ?${lock}`,
    revision: 'SELECT revision FROM kv_meta WHERE path = ?',
    read: `SELECT m.current_version, m.revision, v.* FROM kv_meta m
      LEFT JOIN kv_versions v ON v.path = m.path AND v.version = coalesce(?, m.current_version) WHERE m.path = ?`,
    version: 'SELECT * FROM kv_versions WHERE path = ? AND version = ?',
    versions: 'SELECT version, created_at, created_by, deleted_at, deleted_by, destroyed FROM kv_versions WHERE path = ? ORDER BY version',
    /** Creates the metadata row unless it exists; a replica that loses the race finds the winner's row. */
    insertMeta: `INSERT INTO kv_meta (path, current_version, max_versions, cas_required, revision, created_at, created_by, updated_at, updated_by)
      VALUES (?, 0, NULL, 0, 0, ?, ?, ?, ?) ON CONFLICT (path) DO NOTHING`,
    bump: `UPDATE kv_meta SET current_version = ${dialect === 'postgres' ? 'GREATEST' : 'max'}(current_version, ?), revision = revision + 1, updated_at = ?, updated_by = ? WHERE path = ?`,
    insertVersion: 'INSERT INTO kv_versions (path, version, created_at, created_by, kek_version, wrapped_dek, ciphertext) VALUES (?, ?, ?, ?, ?, ?, ?)',
    prune: 'DELETE FROM kv_versions WHERE path = ? AND version <= ?',
    softDelete: 'UPDATE kv_versions SET deleted_at = ?, deleted_by = ? WHERE path = ? AND version = ? AND deleted_at IS NULL',
    undelete: 'UPDATE kv_versions SET deleted_at = NULL, deleted_by = NULL WHERE path = ? AND version = ?',
    destroy: 'UPDATE kv_versions SET destroyed = 1, kek_version = NULL, wrapped_dek = NULL, ciphertext = NULL WHERE path = ? AND version = ?',
    configure: 'UPDATE kv_meta SET max_versions = coalesce(?, max_versions), cas_required = coalesce(?, cas_required), revision = revision + 1, updated_at = ?, updated_by = ? WHERE path = ?',
    deleteAllVersions: 'DELETE FROM kv_versions WHERE path = ?',
    deleteMeta: 'DELETE FROM kv_meta WHERE path = ?',
    list: 'SELECT path FROM kv_meta WHERE path >= ? AND path < ? ORDER BY path',
    /** Keyset pages over (path, version): no rowid on PostgreSQL. */
    stale: 'SELECT path, version, kek_version FROM kv_versions WHERE kek_version IS NOT NULL AND kek_version < ? AND (path > ? OR (path = ? AND version > ?)) ORDER BY path, version LIMIT ?',
    staleCount: 'SELECT COUNT(*) AS n FROM kv_versions WHERE kek_version IS NOT NULL AND kek_version < ?',
    rewrap: 'UPDATE kv_versions SET kek_version = ?, wrapped_dek = ? WHERE path = ? AND version = ? AND kek_version = ?',
  }
}
