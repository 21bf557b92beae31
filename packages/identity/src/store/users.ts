// Users: argon2id password hashes, roles, and TOTP secrets sealed with a key
// derived from the master key (HKDF info `bulwark/identity/totp`).
import { randomUUID } from 'node:crypto'
import type { Clock, SqlExecutor, SqlStore } from '@bulwark/core'
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
  create(user: NewUser): Promise<User>
  byId(id: string): Promise<UserRecord | undefined>
  byUsername(username: string): Promise<UserRecord | undefined>
  list(): Promise<User[]>
  /** Accounts by username after `afterUsername` (keyset pagination); `ids` narrows to those ids. */
  accounts(limit: number, afterUsername: string, ids?: readonly string[]): Promise<{ accounts: Account[]; more: boolean }>
  update(id: string, patch: Partial<Pick<User, 'roles' | 'displayName' | 'email' | 'mfaRequired' | 'disabled'>> & { passwordHash?: string }): Promise<User | undefined>
  totpSecret(id: string): Promise<string | undefined>
  setTotpSecret(id: string, secret: string | null): Promise<void>
  /** Records an accepted step; false when the step is not newer (a replay), also when another replica accepted it first. */
  acceptTotpStep(id: string, step: number): Promise<boolean>
}

type Row = { id: string; username: string; password_hash: string; roles: string; display_name: string | null; email: string | null;
  totp_secret: string | null; totp_last_step: number | null; mfa_required: number; disabled: number; created_at: number }

export const USERNAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/

export function publicUser(user: UserRecord): User {
  const { passwordHash: _p, totpLastStep: _t, ...rest } = user
  return rest
}

/** Strings PostgreSQL cannot hold (NUL) or that cannot be ids: looked up as nothing rather than failing the statement. */
const lookupable = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 256 && !value.includes('\u0000')

export function createUserStore(db: SqlStore, options: { sealer: Sealer; clock: Clock }): UserStore {
  const { sealer, clock } = options
  const cols = 'id, username, password_hash, roles, display_name, email, totp_secret, totp_last_step, mfa_required, disabled, created_at'
  const accountCols = 'id, username, roles, disabled, created_at'
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
  const byId = async (executor: SqlExecutor, id: string, forUpdate = false) => lookupable(id)
    ? toRecord(await executor.one<Row>(`SELECT ${cols} FROM users WHERE id = ?${forUpdate && executor.dialect === 'postgres' ? ' FOR UPDATE' : ''}`, [id]))
    : undefined
  const store: UserStore = {
    async create(user) {
      if (!USERNAME.test(user.username)) throw new TypeError(`invalid username \`${user.username.slice(0, 64)}\``)
      const id = randomUUID()
      const now = clock.now()
      await db.run(`INSERT INTO users (id, username, password_hash, roles, display_name, email, totp_secret, mfa_required, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [id, user.username, user.passwordHash, JSON.stringify(user.roles),
        sealPii(id, 'display_name', user.displayName), sealPii(id, 'email', user.email), user.totpSecret ? sealer.seal(user.totpSecret, `totp:${id}`) : null,
        user.mfaRequired || user.roles.includes('admin') ? 1 : 0, now, now])
      return publicUser((await store.byId(id))!)
    },
    byId: (id) => byId(db, id),
    byUsername: async (username) => USERNAME.test(username) ? toRecord(await db.one<Row>(`SELECT ${cols} FROM users WHERE username = ?`, [username])) : undefined,
    list: async () => (await db.all<Row>(`SELECT ${cols} FROM users ORDER BY username`)).map((row) => publicUser(toRecord(row)!)),
    async accounts(limit, afterUsername, ids) {
      const wanted = ids?.filter(lookupable)
      const rows = wanted
        ? wanted.length === 0 ? [] : await db.all<Row>(`SELECT ${accountCols} FROM users WHERE id IN (${wanted.map(() => '?').join(', ')}) AND username > ? ORDER BY username LIMIT ?`, [...wanted, afterUsername, limit + 1])
        : await db.all<Row>(`SELECT ${accountCols} FROM users WHERE username > ? ORDER BY username LIMIT ?`, [afterUsername, limit + 1])
      return {
        accounts: rows.slice(0, limit).map((r) => ({ id: r.id, username: r.username, roles: JSON.parse(r.roles) as string[], disabled: r.disabled === 1, createdAt: new Date(r.created_at).toISOString() })),
        more: rows.length > limit,
      }
    },
    async update(id, patch) {
      // Read and write in one transaction (the row locked on PostgreSQL): two replicas patching
      // different fields of one user at once both land.
      const updated = await db.transaction(async (tx) => {
        const current = await byId(tx, id, true)
        if (!current) return false
        const roles = patch.roles ?? current.roles
        await tx.run(`UPDATE users SET roles = ?, display_name = ?, email = ?, mfa_required = ?, disabled = ?, password_hash = ?, updated_at = ? WHERE id = ?`,
          [JSON.stringify(roles), sealPii(id, 'display_name', patch.displayName ?? current.displayName), sealPii(id, 'email', patch.email ?? current.email),
            (patch.mfaRequired ?? current.mfaRequired) || roles.includes('admin') ? 1 : 0, (patch.disabled ?? current.disabled) ? 1 : 0,
            patch.passwordHash ?? current.passwordHash, clock.now(), id])
        return true
      })
      return updated ? publicUser((await store.byId(id))!) : undefined
    },
    async totpSecret(id) {
      const row = lookupable(id) ? await db.one<{ totp_secret: string | null }>('SELECT totp_secret FROM users WHERE id = ?', [id]) : undefined
      return row?.totp_secret ? sealer.open(row.totp_secret, `totp:${id}`) : undefined
    },
    async setTotpSecret(id, secret) {
      await db.run('UPDATE users SET totp_secret = ?, totp_last_step = NULL, updated_at = ? WHERE id = ?', [secret ? sealer.seal(secret, `totp:${id}`) : null, clock.now(), id])
    },
    async acceptTotpStep(id, step) {
      // Conditional: of two replicas accepting the same code at once, exactly one updates the row.
      const result = await db.run('UPDATE users SET totp_last_step = ? WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)', [step, id, step])
      return result.changes === 1
    },
  }
  return store
}
