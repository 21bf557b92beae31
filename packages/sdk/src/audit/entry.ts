// A log entry is an event plus where the log put it (index) and when it took
// it (received). The leaf data is the canonical JSON of exactly those three,
// so moving an entry to another index changes its hash.
import type { AuditEvent } from '@bulwark/core'
import { canonicalJson, sorted } from './canonical-json.ts'
import { leafHash } from './merkle-hash.ts'

export type AuditLogEntry = { index: number; received: string; event: AuditEvent }

/** The members an event may have (core's AuditEventSchema), and its actor. */
export const EVENT_KEYS: ReadonlySet<string> = new Set(['action', 'actor', 'component', 'details', 'id', 'outcome', 'reason', 'requestId', 'resource', 'route', 'time', 'type'])
export const ACTOR_KEYS: ReadonlySet<string> = new Set(['clientId', 'id', 'ip', 'kind', 'spiffeId'])

/**
 * The event with its members in sorted order, built as one literal (the
 * hot path of every append). Only for events of exactly the schema's shape;
 * anything else goes through the generic canonicalJson.
 */
function orderedEvent(event: AuditEvent): unknown {
  const a = event.actor
  return {
    action: event.action,
    actor: { clientId: a.clientId, id: a.id, ip: a.ip, kind: a.kind, spiffeId: a.spiffeId },
    component: event.component,
    details: event.details === undefined ? undefined : sorted(event.details),
    id: event.id, outcome: event.outcome, reason: event.reason, requestId: event.requestId,
    resource: event.resource, route: event.route, time: event.time, type: event.type,
  }
}

function isPlainEvent(event: AuditEvent): boolean {
  if (typeof event !== 'object' || event === null || typeof event.actor !== 'object' || event.actor === null) return false
  for (const key in event) if (!EVENT_KEYS.has(key)) return false
  for (const key in event.actor) if (!ACTOR_KEYS.has(key)) return false
  return event.details === undefined || (typeof event.details === 'object' && event.details !== null && Object.keys(event.details).every((k) => !/^\d+$/.test(k)))
}

export function entryLeafData(entry: AuditLogEntry): string {
  if (!isPlainEvent(entry.event)) return canonicalJson({ index: entry.index, received: entry.received, event: entry.event })
  return `{"event":${JSON.stringify(orderedEvent(entry.event))},"index":${JSON.stringify(entry.index)},"received":${JSON.stringify(entry.received)}}`
}

export function entryLeafHash(entry: AuditLogEntry): Buffer {
  return leafHash(entryLeafData(entry))
}

/** One line of an export: the entry and its leaf hash (hex). */
export function exportLine(entry: AuditLogEntry, hash: Uint8Array = entryLeafHash(entry)): string {
  return canonicalJson({ index: entry.index, received: entry.received, event: entry.event, leafHash: Buffer.from(hash).toString('hex') })
}

/**
 * The export line for stored leaf bytes, without re-encoding: the leaf is
 * canonical `{"event":…,"index":N,"received":"…"}`, and `leafHash` sorts
 * between `index` and `received`. Bytes of any other shape are re-encoded.
 */
export function exportLineFromLeaf(data: string, hash: Uint8Array): string {
  const at = data.lastIndexOf(',"received":"')
  if (at !== -1 && data.startsWith('{"event":{') && data.endsWith('"}')) {
    return `${data.slice(0, at)},"leafHash":"${Buffer.from(hash).toString('hex')}"${data.slice(at)}`
  }
  return exportLine(JSON.parse(data) as AuditLogEntry, hash)
}
