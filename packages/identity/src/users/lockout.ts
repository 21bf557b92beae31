// Login throttling per account and per client IP: after `freeFailures`
// failures each further attempt must wait a doubling delay (capped), and
// `maxFailures` failures inside the window lock the key for `lockSeconds`.
// Successful logins neither count nor reset: an attacker cannot interleave
// its own successes to wash out failures. Time comes from the injected clock.
import type { Clock, SqlExecutor, SqlStore } from '@bulwark/core'
import { lockFor } from '../store/database.ts'

export type LockoutPolicy = { maxFailures: number; windowSeconds: number; lockSeconds: number; freeFailures: number; maxDelaySeconds: number }

export type ThrottleVerdict = { allowed: true } | { allowed: false; reason: 'locked' | 'delay'; key: string; retryAfterSeconds: number }

export type Lockout = {
  check(keys: string[]): Promise<ThrottleVerdict>
  /** Records a failure for each key; returns the keys that just became locked. */
  fail(keys: string[]): Promise<string[]>
  lock(key: string, seconds: number, reason: string): Promise<void>
  unlock(key: string): Promise<void>
  lockedUntil(key: string): Promise<number | undefined>
  /** Drops failures older than the window (maintenance). */
  prune(): Promise<void>
}

// NUL cannot be stored in PostgreSQL text; it never occurs in a real username or address.
const clean = (value: string) => value.replaceAll('\u0000', '\uFFFD')
export const accountKey = (username: string) => `acct:${clean(username.toLowerCase().slice(0, 128))}`
export const ipKey = (ip: string) => `ip:${clean(ip.slice(0, 64))}`

const SET_LOCK = 'INSERT INTO lockouts (key, until, reason) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET until = excluded.until, reason = excluded.reason'

export function createLockout(db: SqlStore, policy: LockoutPolicy, clock: Clock): Lockout {
  const windowMs = policy.windowSeconds * 1000
  async function until(executor: SqlExecutor, key: string): Promise<number | undefined> {
    const row = await executor.one<{ until: number }>('SELECT until FROM lockouts WHERE key = ?', [key])
    return row && row.until > clock.now() ? row.until : undefined
  }
  const failures = (executor: SqlExecutor, key: string, since: number) =>
    executor.one<{ n: number; last: number | null }>('SELECT COUNT(*) AS n, MAX(at) AS last FROM login_failures WHERE key = ? AND at > ?', [key, since]) as Promise<{ n: number; last: number | null }>

  return {
    async check(keys) {
      const now = clock.now()
      for (const key of keys) {
        const locked = await until(db, key)
        if (locked) return { allowed: false, reason: 'locked', key, retryAfterSeconds: Math.ceil((locked - now) / 1000) }
      }
      for (const key of keys) {
        const row = await failures(db, key, now - windowMs)
        const over = row.n - policy.freeFailures
        if (over > 0 && row.last !== null) {
          const delayMs = Math.min(2 ** (over - 1), policy.maxDelaySeconds) * 1000
          if (now < row.last + delayMs) return { allowed: false, reason: 'delay', key, retryAfterSeconds: Math.ceil((row.last + delayMs - now) / 1000) }
        }
      }
      return { allowed: true }
    },
    async fail(keys) {
      const now = clock.now()
      return await db.transaction(async (tx) => {
        // Count-then-lock per key, serialized per key across replicas (keys in a fixed order: no deadlock):
        // failures arriving at two replicas at once are both counted and the key locks exactly once.
        for (const key of [...new Set(keys)].sort()) await lockFor(tx, `lockout:${key}`)
        const locked: string[] = []
        for (const key of keys) {
          // Only this key's old rows (its lock is held); `prune` clears everyone's from maintenance.
          await tx.run('DELETE FROM login_failures WHERE key = ? AND at <= ?', [key, now - windowMs])
          await tx.run('INSERT INTO login_failures (key, at) VALUES (?, ?)', [key, now])
          const row = await failures(tx, key, now - windowMs)
          if (row.n >= policy.maxFailures && !(await until(tx, key))) {
            await tx.run(SET_LOCK, [key, now + policy.lockSeconds * 1000, 'too many failed logins'])
            locked.push(key)
          }
        }
        return locked
      })
    },
    async lock(key, seconds, reason) {
      await db.run(SET_LOCK, [key, clock.now() + seconds * 1000, reason.slice(0, 200)])
    },
    async unlock(key) {
      await db.transaction(async (tx) => {
        await tx.run('DELETE FROM lockouts WHERE key = ?', [key])
        await tx.run('DELETE FROM login_failures WHERE key = ?', [key])
      })
    },
    lockedUntil: (key) => until(db, key),
    async prune() {
      await db.run('DELETE FROM login_failures WHERE at <= ?', [clock.now() - windowMs])
    },
  }
}
