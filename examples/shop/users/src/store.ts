// Profiles on the users service's SqlStore: its own SQLite file by default,
// schema `bulwark_users` on PostgreSQL when configured. Personal data is one
// ciphertext per user, encrypted by the vault under that user's own transit
// key (deleting the key erases every copy, backups included); the email is
// findable only through its blind index (a keyed HMAC, also from the vault).
// Neither engine ever sees a plaintext profile or a key.
import { createHash } from 'node:crypto'
import { openStore, type BootstrapMessage, type Migration, type SqlStore } from '@bulwark/core'

export type ProfileRow = {
  seq: number; id: string; key_name: string; profile_ciphertext: string | null; email_index: string | null
  created_at: string; updated_at: string; erased_at: string | null
}

// Version 1 is the SQLite schema the service always had, so existing files carry on.
const MIGRATIONS: readonly Migration[] = [{
  sqlite: `
  CREATE TABLE profiles (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    key_name TEXT NOT NULL,
    profile_ciphertext TEXT,
    email_index TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    erased_at TEXT
  );
  CREATE INDEX profiles_email_index ON profiles (email_index);
`,
  postgres: `
  CREATE TABLE profiles (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    key_name TEXT NOT NULL,
    profile_ciphertext TEXT,
    email_index TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    erased_at TEXT
  );
  CREATE INDEX profiles_email_index ON profiles (email_index);
`,
}]

/** The per-user transit key name: derived from the subject, safe for the vault's key-name rules. */
export function userKeyName(sub: string): string {
  return `users-u-${createHash('sha256').update(sub).digest('hex').slice(0, 40)}`
}

export type UsersStore = {
  get(id: string): Promise<ProfileRow | undefined>
  /** The profile row, created empty when missing (replicas creating it at once make one). */
  create(id: string, now: number): Promise<ProfileRow>
  /**
   * Replaces the profile ciphertext only if it is still `expected` (what the
   * caller read) and the profile is not erased; false otherwise. Every
   * encryption has a fresh nonce, so the ciphertext is a version: a write
   * from another request or replica in between makes this one fail, never
   * silently undo it.
   */
  update(id: string, ciphertext: string, emailIndex: string | null, now: number, expected: string | null): Promise<boolean>
  erase(id: string, now: number): Promise<void>
  list(limit: number, afterSeq: number, emailIndex?: string): Promise<{ rows: ProfileRow[]; more: boolean }>
  /** Where the data lives (safe to log). */
  readonly location: string
  readonly sql: SqlStore
  close(): Promise<void>
}

export type UsersStoreOptions = { sqlitePath: string; storage?: BootstrapMessage['storage'] }

export async function openUsersStore(options: UsersStoreOptions): Promise<UsersStore> {
  const db = await openStore('users', { storage: options.storage, sqlitePath: options.sqlitePath, migrations: MIGRATIONS })
  // Erased rows are overwritten on disk, not just unlinked from the b-tree (SQLite only; see the threat model for PostgreSQL).
  if (db.dialect === 'sqlite') await db.query('PRAGMA secure_delete = ON')
  const get = (id: string) => db.one<ProfileRow>('SELECT * FROM profiles WHERE id = ?', [id])
  return {
    location: db.location,
    sql: db,
    get,
    async create(id, now) {
      const at = new Date(now).toISOString()
      await db.run('INSERT INTO profiles (id, key_name, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING', [id, userKeyName(id), at, at])
      return (await get(id))!
    },
    async update(id, ciphertext, emailIndex, now, expected) {
      const { changes } = await db.run('UPDATE profiles SET profile_ciphertext = ?, email_index = ?, updated_at = ? WHERE id = ? AND erased_at IS NULL AND COALESCE(profile_ciphertext, \'\') = ?',
        [ciphertext, emailIndex, new Date(now).toISOString(), id, expected ?? ''])
      return changes === 1
    },
    async erase(id, now) {
      const at = new Date(now).toISOString()
      await db.run('UPDATE profiles SET profile_ciphertext = NULL, email_index = NULL, erased_at = ?, updated_at = ? WHERE id = ?', [at, at, id])
    },
    async list(limit, afterSeq, emailIndex) {
      const rows = emailIndex === undefined
        ? await db.all<ProfileRow>('SELECT * FROM profiles WHERE erased_at IS NULL AND seq > ? ORDER BY seq LIMIT ?', [afterSeq, limit + 1])
        : await db.all<ProfileRow>('SELECT * FROM profiles WHERE erased_at IS NULL AND email_index = ? AND seq > ? ORDER BY seq LIMIT ?', [emailIndex, afterSeq, limit + 1])
      return { rows: rows.slice(0, limit), more: rows.length > limit }
    },
    close: () => db.close(),
  }
}
