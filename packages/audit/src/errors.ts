// Error catalogue of the audit service.
import { defineError } from '@bulwark/core'

/** The error with a `Retry-After` header (seconds). */
function withRetryAfter(make: ReturnType<typeof defineError>, seconds: number) {
  return Object.assign((message?: string) => make(message, { headers: { 'retry-after': String(seconds) } }), { code: make.code, status: make.status })
}

export const AuditErrors = {
  malformedBatch: defineError('BW_AUDIT_MALFORMED', 400, 'malformed audit events'),
  batchTooLarge: defineError('BW_AUDIT_BATCH_TOO_LARGE', 413, 'too many events in one batch'),
  componentMismatch: defineError('BW_AUDIT_COMPONENT_MISMATCH', 403, 'event component does not match the caller'),
  typeForbidden: defineError('BW_AUDIT_TYPE_FORBIDDEN', 403, 'caller may not write this event type'),
  badQuery: defineError('BW_AUDIT_BAD_QUERY', 400, 'bad query'),
  noTreeHead: defineError('BW_AUDIT_NO_TREE_HEAD', 404, 'no signed tree head of that size'),
  notFound: defineError('BW_AUDIT_NOT_FOUND', 404, 'no such entry'),
  logTampered: defineError('BW_AUDIT_LOG_TAMPERED', 503, 'the audit store failed verification; ingestion is stopped'),
  archived: defineError('BW_AUDIT_ARCHIVED', 410, 'archived: no longer in the live log'),
  /** A follower replica (another holds the leader lock): the caller keeps its events spooled and retries. */
  notLeader: withRetryAfter(defineError('BW_AUDIT_NOT_LEADER', 503, 'this audit replica is not the writer (another holds the leader lock, or none yet); retry shortly'), 1),
  archiveFailed: defineError('BW_AUDIT_ARCHIVE_FAILED', 500, 'archiving failed; nothing was removed'),
} as const
