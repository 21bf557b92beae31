// What a detector sees (one committed event at a time) and what it raises.
import type { AuditEvent } from '@bulwark/core'

/** What a gateway block names: an address, an OAuth client, or a token subject (a user). */
export type BlockTarget = 'ip' | 'client' | 'subject'

export type Severity = 'low' | 'medium' | 'high'

export type Response =
  /** `revokeSessions`: also end the user's sessions and tokens (only when the password is known to someone else). */
  | { kind: 'lock'; user: string; seconds: number; revokeSessions: boolean }
  | { kind: 'block'; target: BlockTarget; value: string; seconds: number }

export type Detection = {
  detector: string
  severity: Severity
  /** What the alert is about (an account, an IP, a client, a service). */
  key: string
  summary: string
  details: Record<string, string | number | boolean | null>
  response?: Response
}

export type Detector = {
  readonly name: string
  /** `at` is the event's own time in ms (clamped to the clock), so a drained spool is judged by when things happened. */
  observe(event: AuditEvent, at: number): Detection | undefined
}
