// What the HTTP routes share: stores, policies and the current provider
// (rebuilt when signing keys change, so always read it through `provider()`).
import type { AuditActor, AuditSink, Clock, Logger } from '@bulwark/core'
import type { Provider } from 'oidc-provider'
import type { IdentityConfig } from './config.ts'
import type { UserStore } from './store/users.ts'
import type { ClientStore } from './store/clients.ts'
import type { RevocationFeed } from './store/revocations.ts'
import type { Lockout } from './users/lockout.ts'
import type { PasswordHasher } from './users/passwords.ts'
import type { MfaPendingStore } from './users/mfa-pending.ts'
import type { SigningKeys } from './provider/keys.ts'

export type IdentityContext = {
  config: IdentityConfig
  issuer: string
  trustDomain: string
  provider(): Provider
  users: UserStore
  clients: ClientStore
  revocations: RevocationFeed
  lockout: Lockout
  hasher: PasswordHasher
  mfa: MfaPendingStore
  keys: SigningKeys
  /** Rebuilds the provider after a key change. */
  reloadKeys(): Promise<void>
  /** Revokes every session, grant and token of a user or client and publishes it to the feed. */
  revokeSubject(subject: { kind: 'user' | 'client'; id: string }): Promise<number>
  /** Live sessions, grants and tokens of a user, counted by kind (never the records themselves). */
  recordsOf(accountId: string): Promise<Record<string, number>>
  csrf(uid: string): string
  audit: AuditSink
  clock: Clock
  log: Logger
}

export type AuditInput = {
  type: string
  actor: AuditActor
  action: string
  outcome: 'success' | 'failure' | 'denied' | 'error'
  resource?: string
  reason?: string
  requestId?: string
  details?: Record<string, string | number | boolean | null>
}

export function emit(ctx: Pick<IdentityContext, 'audit'>, event: AuditInput): void {
  ctx.audit.emit(event)
}
