// Between the password step and the OTP step the interaction remembers whose
// password was right (and, during enrolment, the sealed candidate secret).
// Keyed by a hash of the interaction uid; expires with the interaction.
import type { Clock, SqlStore } from '@bulwark/core'
import type { Sealer } from '../store/crypto.ts'

export type PendingMfa = { accountId: string; enrolSecret?: string }

export type MfaPendingStore = {
  put(uid: string, pending: PendingMfa, ttlSeconds: number): Promise<void>
  get(uid: string): Promise<PendingMfa | undefined>
  remove(uid: string): Promise<void>
}

export function createMfaPendingStore(db: SqlStore, options: { hash: (v: string) => string; sealer: Sealer; clock: Clock }): MfaPendingStore {
  const { hash, sealer, clock } = options
  return {
    async put(uid, pending, ttlSeconds) {
      const key = hash(`mfa:${uid}`)
      await db.run(`INSERT INTO mfa_pending (uid_hash, account_id, enrol_secret, expires_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (uid_hash) DO UPDATE SET account_id = excluded.account_id, enrol_secret = excluded.enrol_secret, expires_at = excluded.expires_at`,
      [key, pending.accountId, pending.enrolSecret ? sealer.seal(pending.enrolSecret, `enrol:${key}`) : null, clock.now() + ttlSeconds * 1000])
      await db.run('DELETE FROM mfa_pending WHERE expires_at <= ?', [clock.now()])
    },
    async get(uid) {
      const key = hash(`mfa:${uid}`)
      const row = await db.one<{ account_id: string; enrol_secret: string | null; expires_at: number }>('SELECT account_id, enrol_secret, expires_at FROM mfa_pending WHERE uid_hash = ?', [key])
      if (!row || row.expires_at <= clock.now()) return undefined
      return { accountId: row.account_id, ...(row.enrol_secret ? { enrolSecret: sealer.open(row.enrol_secret, `enrol:${key}`) } : {}) }
    },
    async remove(uid) {
      await db.run('DELETE FROM mfa_pending WHERE uid_hash = ?', [hash(`mfa:${uid}`)])
    },
  }
}
