// Profiles in the users service's own SQLite file. Personal data is one
// ciphertext per user, encrypted by the vault under that user's own transit
// key (deleting the key erases every copy, backups included); the email is
// findable only through its blind index (a keyed HMAC, also from the vault).
import { createHash } from 'node:crypto'
import { openDatabase, type Database } from '@bulwark/core'

export type ProfileRow = {
  seq: number; id: string; key_name: string; profile_ciphertext: string | null; email_index: string | null
  created_at: string; updated_at: string; erased_at: string | null
}

const MIGRATIONS = [`
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
`]

/** The per-user transit key name: derived from the subject, safe for the vault's key-name rules. */
export function userKeyName(sub: string): string {
  return `users-u-${createHash('sha256').update(sub).digest('hex').slice(0, 40)}`
}

export type UsersStore = {
  get(id: string): ProfileRow | undefined
  create(id: string, now: number): ProfileRow
  update(id: string, ciphertext: string, emailIndex: string | null, now: number): void
  erase(id: string, now: number): void
  list(limit: number, afterSeq: number, emailIndex?: string): { rows: ProfileRow[]; more: boolean }
  close(): void
  readonly db: Database
}

export function openUsersStore(path: string): UsersStore {
  const db = openDatabase(path, { migrations: MIGRATIONS })
  // Erased rows are overwritten on disk, not just unlinked from the b-tree.
  db.exec('PRAGMA secure_delete = ON')
  const get = db.prepare('SELECT * FROM profiles WHERE id = ?')
  const insert = db.prepare('INSERT OR IGNORE INTO profiles (id, key_name, created_at, updated_at) VALUES (?, ?, ?, ?)')
  const update = db.prepare('UPDATE profiles SET profile_ciphertext = ?, email_index = ?, updated_at = ? WHERE id = ? AND erased_at IS NULL')
  const erase = db.prepare('UPDATE profiles SET profile_ciphertext = NULL, email_index = NULL, erased_at = ?, updated_at = ? WHERE id = ?')
  const list = db.prepare('SELECT * FROM profiles WHERE erased_at IS NULL AND seq > ? ORDER BY seq LIMIT ?')
  const listByEmail = db.prepare('SELECT * FROM profiles WHERE erased_at IS NULL AND email_index = ? AND seq > ? ORDER BY seq LIMIT ?')
  return {
    db,
    get: (id) => get.get(id) as ProfileRow | undefined,
    create(id, now) {
      const at = new Date(now).toISOString()
      insert.run(id, userKeyName(id), at, at)
      return get.get(id) as ProfileRow
    },
    update(id, ciphertext, emailIndex, now) { update.run(ciphertext, emailIndex, new Date(now).toISOString(), id) },
    erase(id, now) {
      const at = new Date(now).toISOString()
      erase.run(at, at, id)
    },
    list(limit, afterSeq, emailIndex) {
      const rows = (emailIndex === undefined ? list.all(afterSeq, limit + 1) : listByEmail.all(emailIndex, afterSeq, limit + 1)) as ProfileRow[]
      return { rows: rows.slice(0, limit), more: rows.length > limit }
    },
    close: () => db.close(),
  }
}
