// The security-event model every component emits. The audit service owns the
// log; this file owns the shape so emitters and the log agree.
import { Type, type Static } from '@sinclair/typebox'

export const AuditActorSchema = Type.Object({
  /** `user`, `client`, `service`, `operator`, `anonymous` */
  kind: Type.Union([Type.Literal('user'), Type.Literal('client'), Type.Literal('service'), Type.Literal('operator'), Type.Literal('anonymous')]),
  id: Type.Optional(Type.String({ maxLength: 512 })),
  clientId: Type.Optional(Type.String({ maxLength: 256 })),
  spiffeId: Type.Optional(Type.String({ maxLength: 512 })),
  ip: Type.Optional(Type.String({ maxLength: 64 })),
}, { additionalProperties: false })

export const AuditEventSchema = Type.Object({
  /** Idempotency key: the emitter generates it, the log drops duplicates. */
  id: Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  /** `<noun>.<past-verb>`, e.g. `token.issued`, `authz.denied`. */
  type: Type.String({ pattern: '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$', maxLength: 64 }),
  time: Type.String({ format: 'date-time' }),
  component: Type.String({ minLength: 1, maxLength: 64 }),
  actor: AuditActorSchema,
  action: Type.String({ minLength: 1, maxLength: 128 }),
  resource: Type.Optional(Type.String({ maxLength: 512 })),
  outcome: Type.Union([Type.Literal('success'), Type.Literal('failure'), Type.Literal('denied'), Type.Literal('error')]),
  /** Machine-readable reason, e.g. `BW_AUTHN_TOKEN_EXPIRED` or `rate_limit`. */
  reason: Type.Optional(Type.String({ maxLength: 256 })),
  route: Type.Optional(Type.String({ maxLength: 256 })),
  requestId: Type.Optional(Type.String({ maxLength: 128 })),
  /** Small, non-secret details (counts, versions, key ids). Never a secret value. */
  details: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String({ maxLength: 1024 }), Type.Number(), Type.Boolean(), Type.Null()]))),
}, { additionalProperties: false })

export type AuditActor = Static<typeof AuditActorSchema>
export type AuditEvent = Static<typeof AuditEventSchema>
/** What a component hands to an emitter: id, time and component are filled in. */
export type AuditEventInput = Omit<AuditEvent, 'id' | 'time' | 'component'> & Partial<Pick<AuditEvent, 'id' | 'time'>>

/** Where components send security events. Emitting never throws and never blocks the request. */
export type AuditSink = {
  emit(event: AuditEventInput): void
  /** Resolves once everything emitted so far is durable (or spooled). */
  flush(): Promise<void>
  /**
   * The current request's durability barrier: a promise that resolves once the events this
   * request emitted are durable, or undefined when there is nothing to wait for. A reply to
   * an acknowledged operation waits for it (the sdk runtime does this for Fastify replies).
   */
  barrier?(): Promise<void> | undefined
}

/** Collects events in memory: for tests and for a component's own unit wiring. */
export function createMemoryAuditSink(component = 'test'): AuditSink & { events: AuditEvent[] } {
  const events: AuditEvent[] = []
  let counter = 0
  return {
    events,
    emit(event) {
      counter += 1
      events.push({ ...event, id: event.id ?? `mem${counter.toString().padStart(8, '0')}`, time: event.time ?? new Date().toISOString(), component })
    },
    async flush() {},
  }
}
