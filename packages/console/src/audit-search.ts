// Audit search for the console: the audit service filters by type and pages
// newest first; actor, outcome and time are filtered here, over a bounded
// number of entries per request (SCAN_LIMIT) so one search cannot make the
// console read the whole log. The answer says where to continue (`next`).
import { ConsoleErrors } from './errors.ts'
import type { AuditEntry, Platform } from './platform.ts'

export const SCAN_LIMIT = 5000
const PAGE = 500

export type AuditQuery = { type?: string; actor?: string; outcome?: string; from?: number; to?: number; before?: number; limit: number }

const TYPE = /^[a-z][a-z0-9_.]{0,63}$/
const OUTCOMES = new Set(['success', 'failure', 'denied', 'error'])

/** The query from URL parameters, or a 400 naming the bad one. */
export function parseAuditQuery(raw: Record<string, unknown>): AuditQuery {
  const str = (name: string, max: number) => {
    const v = raw[name]
    if (v === undefined || v === '') return undefined
    if (typeof v !== 'string' || v.length > max) throw ConsoleErrors.badRequest(`\`${name}\` is not valid`)
    return v
  }
  const type = str('type', 64)
  if (type !== undefined && !TYPE.test(type)) throw ConsoleErrors.badRequest('`type` is not an event type')
  const outcome = str('outcome', 16)
  if (outcome !== undefined && !OUTCOMES.has(outcome)) throw ConsoleErrors.badRequest('`outcome` is one of success, failure, denied, error')
  const time = (name: string) => {
    const v = str(name, 40)
    if (v === undefined) return undefined
    const t = Date.parse(v)
    if (Number.isNaN(t)) throw ConsoleErrors.badRequest(`\`${name}\` is not a date`)
    return t
  }
  const int = (name: string, min: number, max: number) => {
    const v = str(name, 16)
    if (v === undefined) return undefined
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw ConsoleErrors.badRequest(`\`${name}\` must be an integer from ${min} to ${max}`)
    return Number(v)
  }
  return { type, outcome, actor: str('actor', 256), from: time('from'), to: time('to'), before: int('before', 0, Number.MAX_SAFE_INTEGER), limit: int('limit', 1, 200) ?? 50 }
}

function matches(entry: AuditEntry, q: AuditQuery): boolean {
  const e = entry.event
  if (q.outcome && e.outcome !== q.outcome) return false
  if (q.actor) {
    const needle = q.actor.toLowerCase()
    if (![e.actor.id, e.actor.ip, e.actor.clientId, e.actor.spiffeId].some((v) => v?.toLowerCase().includes(needle))) return false
  }
  const t = Date.parse(e.time)
  if (q.to !== undefined && t > q.to) return false
  if (q.from !== undefined && t < q.from) return false
  return true
}

export async function searchAudit(platform: Platform, q: AuditQuery): Promise<{ entries: AuditEntry[]; scanned: number; next: number | null; treeSize: number }> {
  const found: AuditEntry[] = []
  let before = q.before
  let scanned = 0
  let treeSize = 0
  for (;;) {
    const page = await platform.events({ before, type: q.type, limit: PAGE })
    treeSize = page.treeSize
    if (page.entries.length === 0) return { entries: found, scanned, next: null, treeSize }
    for (const entry of page.entries) {
      scanned++
      before = entry.index
      if (matches(entry, q)) found.push(entry)
      // Newest first: past `from`, nothing older can match.
      const pastFrom = q.from !== undefined && Date.parse(entry.event.time) < q.from
      if (found.length >= q.limit || pastFrom) return { entries: found, scanned, next: pastFrom || before === 0 ? null : before, treeSize }
    }
    if (scanned >= SCAN_LIMIT) return { entries: found, scanned, next: before === 0 ? null : before ?? null, treeSize }
  }
}
