// How a failed business action reads in its audit event: a refusal the
// caller can act on (4xx) is a `failure` with the error code as the reason, a
// fault of ours or a dependency's (5xx, unexpected error) is an `error`.
// Authorization denials are audited by `request.authorize` itself
// (`authz.denied`), so handlers call it before the part they audit.
import { isBulwarkError } from '@bulwark/core'

export function auditOutcome(error: unknown): { outcome: 'failure' | 'error'; reason: string } {
  if (isBulwarkError(error)) return { outcome: error.status < 500 ? 'failure' : 'error', reason: error.code }
  return { outcome: 'error', reason: 'BW_INTERNAL' }
}
