// Checks a POST /v1/events body before anything is written: the batch size,
// every event against core's AuditEventSchema, the event's component against
// the caller's SPIFFE identity, and the event type against the type policy.
// One bad event refuses the whole batch, with every reason listed.
import { AuditEventSchema, checkSchema, type AuditEvent } from '@bulwark/core'
import { AuditErrors } from './errors.ts'
import { mayWriteType } from './type-policy.ts'

export type Caller = { component: string; operator: boolean; spiffeId: string }

const MAX_REASONS = 50

type Issue = { path: string; message: string }

function reject(make: typeof AuditErrors.malformedBatch, summary: string, issues: Issue[]): never {
  const shown = issues.slice(0, MAX_REASONS)
  throw make(`${summary}: ${shown.slice(0, 5).map((i) => `${i.path} ${i.message}`).join('; ')}${issues.length > 5 ? '; …' : ''}`, { extensions: { errors: shown } })
}

export function checkBatch(body: unknown, caller: Caller, maxBatch: number): AuditEvent[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw AuditErrors.malformedBatch('the body must be an object `{events:[…]}`')
  const keys = Object.keys(body)
  if (keys.some((k) => k !== 'events')) throw AuditErrors.malformedBatch(`unknown field \`${keys.find((k) => k !== 'events')!.slice(0, 64)}\``)
  const events = (body as { events?: unknown }).events
  if (!Array.isArray(events)) throw AuditErrors.malformedBatch('`events` must be an array')
  if (events.length > maxBatch) throw AuditErrors.batchTooLarge(`${events.length} events in one batch; at most ${maxBatch}`)

  const malformed: Issue[] = []
  events.forEach((event, i) => {
    for (const issue of checkSchema(AuditEventSchema, event)) malformed.push({ path: `/events/${i}${issue.path === '/' ? '' : issue.path}`, message: issue.message })
  })
  if (malformed.length > 0) reject(AuditErrors.malformedBatch, `${malformed.length} problem(s)`, malformed)

  const typed = events as AuditEvent[]
  const foreign: Issue[] = []
  const forbidden: Issue[] = []
  typed.forEach((event, i) => {
    if (event.component !== caller.component) foreign.push({ path: `/events/${i}/component`, message: `\`${event.component}\` is not the caller \`${caller.component}\`` })
    else if (!mayWriteType(caller.component, event.type)) forbidden.push({ path: `/events/${i}/type`, message: `\`${caller.component}\` may not write \`${event.type}\`` })
    if (caller.operator && (event.actor.kind !== 'operator' || event.actor.spiffeId !== caller.spiffeId)) {
      forbidden.push({ path: `/events/${i}/actor`, message: 'an operator writes events only as itself (actor kind `operator`, its own SPIFFE ID)' })
    }
  })
  if (foreign.length > 0) reject(AuditErrors.componentMismatch, 'events for another component', foreign)
  if (forbidden.length > 0) reject(AuditErrors.typeForbidden, 'event types the caller may not write', forbidden)
  return typed
}
