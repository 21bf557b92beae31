// Users: argon2id password hashes, roles, and TOTP secrets sealed with a key
// derived from the master key (HKDF info `bulwark/identity/totp`).
import { randomUUID } from 'node:crypto'
import type { Clock, Database } from '@bulwark/core'
import type { Sealer } from './crypto.ts'

export type User = {
  id: string
  username: string
  roles: string[]
  displayName?: string
  email?: string
  mfaRequired: boolean
  totpEnrolled: boolean
  disabled: boolean
  createdAt: number
}

export type UserRecord = User & { passwordHash: string; totpLastStep: number | null }

/** What the account directory shows: no password hash, no TOTP, no PII (profiles live with the users service). */
export type Account = { id: string; username: string; roles: string[]; disabled: boolean; createdAt: string }

export type NewUser = { username: string; passwordHash: string; roles: string[]; displayName?: string; email?: string; mfaRequired?: boolean; totpSecret?: string }

export type UserStore = {
  create(user: NewUser): User
  byId(id: string): UserRecord | undefined
  byUsername(username: string): UserRecord | undefined
  list(): User[]
  /** Accounts by username after `afterUsername` (keyset pagination); `ids` narrows to those ids. */
  accounts(limit: number, afterUsername: string, ids?: readonly string[]): { accounts: Account[]; more: boolean }
  update(id: string, patch: Partial<Pick<User, 'roles' | 'displayName' | 'email' | 'mfaRequired' | 'disabled'>> & { passwordHash?: string }): User | undefined
  totpSecret(id: string): string | undefined
  setTotpSecret(id: string, secret: string | null): void
  /** Records an accepted step; false when the step is not newer (a replay). */
  acceptTotpStep(id: string, step: number): boolean
}

type Row = { id: string; username: string; password_hash: string; roles: string; display_name: string | null; email: string | null;
  totp_secret: string | null; totp_last_step: number | null; mfa_required: number; disabled: number; created_at: number }

export const USERNAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/

export function publicUser(user: UserRecord): User {
  const { passwordHash: _p, totpLastStep: _t, ...rest } = user
  return rest
}

export function createUserStore(db: Database, options: { sealer: Sealer; clock: Clock }): UserStore {
  const { sealer, clock } = options
  const cols = 'id, username, password_hash, roles, display_name, email, totp_secret, totp_last_step, mfa_required, disabled, created_at'
  const byId = db.prepare(`SELECT ${cols} FROM users WHERE id = ?`)
  const byName = db.prepare(`SELECT ${cols} FROM users WHERE username = ?`)
  const all = db.prepare(`SELECT ${cols} FROM users ORDER BY username`)
  const accountCols = 'id, username, roles, disabled, created_at'
  const accountPage = db.prepare(`SELECT ${accountCols} FROM users WHERE username > ? ORDER BY username LIMIT ?`)
  const accountsById = db.prepare(`SELECT ${accountCols} FROM users WHERE id IN (SELECT value FROM json_each(?)) AND username > ? ORDER BY username LIMIT ?`)
  // PII (display name, email) is sealed at rest like the TOTP secret, bound to the user and the field.
  const sealPii = (id: string, field: string, value: string | null | undefined) => (value ? sealer.seal(value, `pii:${id}:${field}`) : null)
  const openPii = (id: string, field: string, value: string | null) => (value ? sealer.open(value, `pii:${id}:${field}`) : undefined)
  const toRecord = (row: Row | undefined): UserRecord | undefined => row && {
    id: row.id, username: row.username, passwordHash: row.password_hash, roles: JSON.parse(row.roles) as string[],
    ...(row.display_name ? { displayName: openPii(row.id, 'display_name', row.display_name) } : {}),
    ...(row.email ? { email: openPii(row.id, 'email', row.email) } : {}),
    mfaRequired: row.mfa_required === 1, totpEnrolled: row.totp_secret !== null, disabled: row.disabled === 1,
    createdAt: row.created_at, totpLastStep: row.totp_last_step,
  }
  const store: UserStore = {
    create(user) {
      if (!USERNAME.test(user.username)) throw new TypeError(`invalid username \`${user.username.slice(0, 64)}\``)
      const id = randomUUID()
      const now = clock.now()
      db.prepare(`INSERT INTO users (id, username, password_hash, roles, display_name, email, totp_secret, mfa_required, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(id, user.username, user.passwordHash, JSON.stringify(user.roles),
        sealPii(id, 'display_name', user.displayName), sealPii(id, 'email', user.email), user.totpSecret ? sealer.seal(user.totpSecret, `totp:${id}`) : null,
        user.mfaRequired || user.roles.includes('admin') ? 1 : 0, now, now)
      return publicUser(store.byId(id)!)
    },
    byId: (id) => toRecord(byId.get(id) as Row | undefined),
    byUsername: (username) => toRecord(byName.get(username) as Row | undefined),
    list: () => (all.all() as Row[]).map((row) => publicUser(toRecord(row)!)),
    accounts(limit, afterUsername, ids) {
      const rows = (ids ? accountsById.all(JSON.stringify(ids), afterUsername, limit + 1) : accountPage.all(afterUsername, limit + 1)) as Row[]
      return {
        accounts: rows.slice(0, limit).map((r) => ({ id: r.id, username: r.username, roles: JSON.parse(r.roles) as string[], disabled: r.disabled === 1, createdAt: new Date(r.created_at).toISOString() })),
        more: rows.length > limit,
      }
    },
    update(id, patch) {
      const current = store.byId(id)
      if (!current) return undefined
      const roles = patch.roles ?? current.roles
      db.prepare(`UPDATE users SET roles = ?, display_name = ?, email = ?, mfa_required = ?, disabled = ?, password_hash = ?, updated_at = ? WHERE id = ?`)
        .run(JSON.stringify(roles), sealPii(id, 'display_name', patch.displayName ?? current.displayName), sealPii(id, 'email', patch.email ?? current.email),
          (patch.mfaRequired ?? current.mfaRequired) || roles.includes('admin') ? 1 : 0, (patch.disabled ?? current.disabled) ? 1 : 0,
          patch.passwordHash ?? current.passwordHash, clock.now(), id)
      return publicUser(store.byId(id)!)
    },
    totpSecret(id) {
      const row = byId.get(id) as Row | undefined
      return row?.totp_secret ? sealer.open(row.totp_secret, `totp:${id}`) : undefined
    },
    setTotpSecret(id, secret) {
      db.prepare('UPDATE users SET totp_secret = ?, totp_last_step = NULL, updated_at = ? WHERE id = ?')
        .run(secret ? sealer.seal(secret, `totp:${id}`) : null, clock.now(), id)
    },
    acceptTotpStep(id, step) {
      const result = db.prepare('UPDATE users SET totp_last_step = ? WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)').run(step, id, step)
      return Number(result.changes) === 1
    },
  }
  return store
}
