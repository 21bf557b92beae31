// The KV engine's SQL, prepared once per database.
import type { Database } from '@bulwark/core'

export type MetaRow = { path: string; current_version: number; max_versions: number | null; cas_required: number; revision: number; created_at: number; created_by: string; updated_at: number; updated_by: string }
export type VersionRow = { version: number; created_at: number; created_by: string; deleted_at: number | null; deleted_by: string | null; destroyed: number; kek_version: number | null; wrapped_dek: Uint8Array | null; ciphertext: Uint8Array | null }

export function prepareKvStatements(db: Database) {
  return {
    meta: db.prepare('SELECT * FROM kv_meta WHERE path = ?'),
    read: db.prepare(`SELECT m.current_version, m.revision, v.* FROM kv_meta m
      LEFT JOIN kv_versions v ON v.path = m.path AND v.version = coalesce(?, m.current_version) WHERE m.path = ?`),
    version: db.prepare('SELECT * FROM kv_versions WHERE path = ? AND version = ?'),
    versions: db.prepare('SELECT version, created_at, created_by, deleted_at, deleted_by, destroyed FROM kv_versions WHERE path = ? ORDER BY version'),
    insertMeta: db.prepare('INSERT INTO kv_meta (path, current_version, max_versions, cas_required, revision, created_at, created_by, updated_at, updated_by) VALUES (?, 0, NULL, 0, 0, ?, ?, ?, ?)'),
    bump: db.prepare('UPDATE kv_meta SET current_version = max(current_version, ?), revision = revision + 1, updated_at = ?, updated_by = ? WHERE path = ?'),
    insertVersion: db.prepare('INSERT INTO kv_versions (path, version, created_at, created_by, kek_version, wrapped_dek, ciphertext) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    prune: db.prepare('DELETE FROM kv_versions WHERE path = ? AND version <= ?'),
    softDelete: db.prepare('UPDATE kv_versions SET deleted_at = ?, deleted_by = ? WHERE path = ? AND version = ? AND deleted_at IS NULL'),
    undelete: db.prepare('UPDATE kv_versions SET deleted_at = NULL, deleted_by = NULL WHERE path = ? AND version = ?'),
    destroy: db.prepare('UPDATE kv_versions SET destroyed = 1, kek_version = NULL, wrapped_dek = NULL, ciphertext = NULL WHERE path = ? AND version = ?'),
    configure: db.prepare('UPDATE kv_meta SET max_versions = coalesce(?, max_versions), cas_required = coalesce(?, cas_required), revision = revision + 1, updated_at = ?, updated_by = ? WHERE path = ?'),
    deleteAllVersions: db.prepare('DELETE FROM kv_versions WHERE path = ?'),
    deleteMeta: db.prepare('DELETE FROM kv_meta WHERE path = ?'),
    list: db.prepare('SELECT path FROM kv_meta WHERE path >= ? AND path < ? ORDER BY path'),
    stale: db.prepare('SELECT rowid AS id, path, version, kek_version FROM kv_versions WHERE kek_version IS NOT NULL AND kek_version <> ? AND rowid > ? ORDER BY rowid LIMIT ?'),
    rewrap: db.prepare('UPDATE kv_versions SET kek_version = ?, wrapped_dek = ? WHERE path = ? AND version = ? AND kek_version = ?'),
  }
}
