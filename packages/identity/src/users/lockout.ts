// Login throttling per account and per client IP: after `freeFailures`
// failures each further attempt must wait a doubling delay (capped), and
// `maxFailures` failures inside the window lock the key for `lockSeconds`.
// Successful logins neither count nor reset: an attacker cannot interleave
// its own successes to wash out failures. Time comes from the injected clock.
import type { Clock, Database } from '@bulwark/core'

export type LockoutPolicy = { maxFailures: number; windowSeconds: number; lockSeconds: number; freeFailures: number; maxDelaySeconds: number }

export type ThrottleVerdict = { allowed: true } | { allowed: false; reason: 'locked' | 'delay'; key: string; retryAfterSeconds: number }

export type Lockout = {
  check(keys: string[]): ThrottleVerdict
  /** Records a failure for each key; returns the keys that just became locked. */
  fail(keys: string[]): string[]
  lock(key: string, seconds: number, reason: string): void
  unlock(key: string): void
  lockedUntil(key: string): number | undefined
}

export const accountKey = (username: string) => `acct:${username.toLowerCase().slice(0, 128)}`
export const ipKey = (ip: string) => `ip:${ip.slice(0, 64)}`

export function createLockout(db: Database, policy: LockoutPolicy, clock: Clock): Lockout {
  const windowMs = policy.windowSeconds * 1000
  const lockedUntil = db.prepare('SELECT until FROM lockouts WHERE key = ?')
  const failures = db.prepare('SELECT COUNT(*) AS n, MAX(at) AS last FROM login_failures WHERE key = ? AND at > ?')
  const addFailure = db.prepare('INSERT INTO login_failures (key, at) VALUES (?, ?)')
  const setLock = db.prepare('INSERT INTO lockouts (key, until, reason) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET until = excluded.until, reason = excluded.reason')
  const prune = db.prepare('DELETE FROM login_failures WHERE at <= ?')

  function until(key: string): number | undefined {
    const row = lockedUntil.get(key) as { until: number } | undefined
    return row && row.until > clock.now() ? row.until : undefined
  }

  return {
    check(keys) {
      const now = clock.now()
      for (const key of keys) {
        const locked = until(key)
        if (locked) return { allowed: false, reason: 'locked', key, retryAfterSeconds: Math.ceil((locked - now) / 1000) }
      }
      for (const key of keys) {
        const row = failures.get(key, now - windowMs) as { n: number; last: number | null }
        const over = row.n - policy.freeFailures
        if (over > 0 && row.last !== null) {
          const delayMs = Math.min(2 ** (over - 1), policy.maxDelaySeconds) * 1000
          if (now < row.last + delayMs) return { allowed: false, reason: 'delay', key, retryAfterSeconds: Math.ceil((row.last + delayMs - now) / 1000) }
        }
      }
      return { allowed: true }
    },
    fail(keys) {
      const now = clock.now()
      const locked: string[] = []
      db.transaction(() => {
        prune.run(now - windowMs)
        for (const key of keys) {
          addFailure.run(key, now)
          const row = failures.get(key, now - windowMs) as { n: number }
          if (row.n >= policy.maxFailures && !until(key)) {
            setLock.run(key, now + policy.lockSeconds * 1000, 'too many failed logins')
            locked.push(key)
          }
        }
      })
      return locked
    },
    lock(key, seconds, reason) {
      setLock.run(key, clock.now() + seconds * 1000, reason.slice(0, 200))
    },
    unlock(key) {
      db.prepare('DELETE FROM lockouts WHERE key = ?').run(key)
      db.prepare('DELETE FROM login_failures WHERE key = ?').run(key)
    },
    lockedUntil: until,
  }
}
