// Destructive actions: quarantine or release a service. Each needs the admin
// to confirm (type the service's name) and then to sign in again at identity
// (password and a fresh TOTP code: OIDC `prompt=login`, `max_age=0`); only a
// sign-in of the same admin, with `otp` in `amr` and an `auth_time` after the
// request, runs it. Every outcome is an audit event naming the operator.
import { randomBytes } from 'node:crypto'
import type { AuditSink } from '@bulwark/core'
import { ConsoleErrors } from './errors.ts'
import type { PendingAction } from './pending.ts'
import type { Operator } from './sessions.ts'
import type { Platform } from './platform.ts'

/** The platform's own machinery: quarantining one of these from the console would cut the console off. */
const PROTECTED = new Set(['ca', 'audit', 'policy', 'vault', 'identity', 'gateway', 'console'])
const NAME = /^[a-z][a-z0-9-]{0,31}$/

export function planAction(body: unknown, known: readonly string[], clock: { now(): number }): PendingAction {
  const b = (body ?? {}) as { action?: unknown; service?: unknown; confirm?: unknown }
  if (b.action !== 'quarantine' && b.action !== 'release') throw ConsoleErrors.badRequest('`action` is `quarantine` or `release`')
  if (typeof b.service !== 'string' || !NAME.test(b.service) || !known.includes(b.service)) throw ConsoleErrors.badRequest('`service` is not a component of this platform')
  if (PROTECTED.has(b.service)) throw ConsoleErrors.actionRefused(`\`${b.service}\` is part of the control plane; use \`bulwark incident\` from the operator's machine`)
  if (b.confirm !== b.service) throw ConsoleErrors.badRequest('type the service name to confirm')
  return { id: randomBytes(16).toString('base64url'), action: b.action, service: b.service, createdAt: clock.now() }
}

export type StepUpCheck = { ok: true } | { ok: false; reason: string }

/** Is this fresh sign-in good enough to run `action` for the session's operator? */
export function checkStepUp(signIn: Operator, sessionSub: string, action: PendingAction): StepUpCheck {
  if (signIn.sub !== sessionSub) return { ok: false, reason: 'different_user' }
  if (!signIn.amr.includes('otp')) return { ok: false, reason: 'no_second_factor' }
  if (!signIn.roles.includes('admin')) return { ok: false, reason: 'missing_role' }
  // auth_time is in whole seconds; the sign-in must have happened after the admin asked for the action.
  if (signIn.authTime < Math.floor(action.createdAt / 1000)) return { ok: false, reason: 'not_fresh' }
  return { ok: true }
}

export async function runAction(platform: Platform, audit: AuditSink, operator: Operator, action: PendingAction, requestId: string): Promise<{ outcome: 'success' | 'failure'; message: string }> {
  const release = action.action === 'release'
  const type = release ? 'incident.service_released' : 'incident.service_quarantined'
  const actor = { kind: 'user' as const, id: operator.sub }
  try {
    const result = await platform.quarantine(action.service, release) as { changed?: boolean }
    audit.emit({ type, actor, action: `incident.${action.action}`, resource: `service:${action.service}`, outcome: 'success', requestId, details: { operator: operator.name, via: 'console', changed: result.changed ?? null, stepUp: true } })
    return { outcome: 'success', message: `${action.service} ${release ? 'released' : 'quarantined'}` }
  } catch (error) {
    audit.emit({ type, actor, action: `incident.${action.action}`, resource: `service:${action.service}`, outcome: 'error', reason: 'BW_CONSOLE_UPSTREAM', requestId, details: { operator: operator.name, via: 'console' } })
    return { outcome: 'failure', message: `${action.action} of ${action.service} failed: ${(error as Error).message.slice(0, 200)}` }
  }
}
