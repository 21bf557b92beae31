// A log entry is an event plus where the log put it (index) and when it took
// it (received). The leaf data is the canonical JSON of exactly those three,
// so moving an entry to another index changes its hash.
import type { AuditEvent } from '@bulwark/core'
import { canonicalJson } from './canonical-json.ts'
import { leafHash } from './merkle-hash.ts'

export type AuditLogEntry = { index: number; received: string; event: AuditEvent }

export function entryLeafData(entry: AuditLogEntry): string {
  return canonicalJson({ index: entry.index, received: entry.received, event: entry.event })
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
