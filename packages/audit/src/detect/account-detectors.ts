// Detectors on the identity provider's events: brute force against one
// account, password spraying from one IP across accounts, repeated MFA
// failures, and refresh-token reuse (RFC 9700 §4.14.2: a reused refresh
// token means the family is compromised).
import type { DetectorsConfig } from '../config.ts'
import type { Detector } from './types.ts'
import { createCooldown, createWindowCounter } from './window.ts'

export function bruteForceDetector(config: DetectorsConfig['bruteForce']): Detector {
  const windowMs = config.windowSeconds * 1000
  const failures = createWindowCounter(windowMs)
  const cooldown = createCooldown(windowMs)
  return {
    name: 'brute_force',
    observe(event, at) {
      if (event.type !== 'login.failed' || !event.actor.id) return undefined
      const count = failures.add(event.actor.id, at)
      if (count < config.threshold || !cooldown(event.actor.id, at)) return undefined
      return {
        detector: 'brute_force', severity: 'high', key: `user:${event.actor.id}`,
        summary: `${count} failed logins for \`${event.actor.id}\` within ${config.windowSeconds}s`,
        details: { username: event.actor.id, failures: count, windowSeconds: config.windowSeconds, lastIp: event.actor.ip ?? null },
        // Guessing proves nothing about the session holder: the lock stops new logins, sessions stay (DESIGN: lockout).
        response: { kind: 'lock', user: event.actor.id, seconds: config.lockSeconds, revokeSessions: false },
      }
    },
  }
}

export function passwordSprayingDetector(config: DetectorsConfig['passwordSpraying']): Detector {
  const windowMs = config.windowSeconds * 1000
  const accounts = createWindowCounter(windowMs)
  const cooldown = createCooldown(windowMs)
  return {
    name: 'password_spraying',
    observe(event, at) {
      if (event.type !== 'login.failed' || !event.actor.ip || !event.actor.id) return undefined
      const distinct = accounts.addDistinct(event.actor.ip, event.actor.id, at)
      if (distinct < config.accounts || !cooldown(event.actor.ip, at)) return undefined
      return {
        detector: 'password_spraying', severity: 'high', key: `ip:${event.actor.ip}`,
        summary: `failed logins for ${distinct} accounts from ${event.actor.ip} within ${config.windowSeconds}s`,
        details: { ip: event.actor.ip, accounts: distinct, windowSeconds: config.windowSeconds },
        response: { kind: 'block', target: 'ip', value: event.actor.ip, seconds: config.blockSeconds },
      }
    },
  }
}

export function mfaFailuresDetector(config: DetectorsConfig['mfaFailures']): Detector {
  const windowMs = config.windowSeconds * 1000
  const failures = createWindowCounter(windowMs)
  const cooldown = createCooldown(windowMs)
  return {
    name: 'mfa_failures',
    observe(event, at) {
      if (event.type !== 'mfa.failed' || !event.actor.id) return undefined
      const count = failures.add(event.actor.id, at)
      if (count < config.threshold || !cooldown(event.actor.id, at)) return undefined
      return {
        detector: 'mfa_failures', severity: 'high', key: `user:${event.actor.id}`,
        summary: `${count} failed MFA attempts for \`${event.actor.id}\` within ${config.windowSeconds}s (password known to someone)`,
        details: { user: event.actor.id, failures: count, windowSeconds: config.windowSeconds, lastIp: event.actor.ip ?? null },
        // Failing the second factor means the password was right: whoever holds it may hold sessions too.
        response: { kind: 'lock', user: event.actor.id, seconds: config.lockSeconds, revokeSessions: true },
      }
    },
  }
}

export function tokenReuseDetector(): Detector {
  return {
    name: 'token_reuse',
    observe(event) {
      if (event.type !== 'token.reuse_detected' && event.type !== 'token.reused') return undefined
      const who = event.actor.id ?? event.actor.clientId ?? 'unknown'
      return {
        detector: 'token_reuse', severity: 'high', key: `user:${who}`,
        summary: `a rotated refresh token of \`${who}\` was used again (token theft); its family is revoked`,
        details: { subject: event.actor.id ?? null, clientId: event.actor.clientId ?? null, ip: event.actor.ip ?? null, requestId: event.requestId ?? null },
      }
    },
  }
}
