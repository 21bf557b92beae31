// Operator reads of the log: entries, the signed tree head, inclusion and
// consistency proofs (RFC 6962 §2.1.1-2.1.2, hashes in hex), and verification.
import type { FastifyInstance } from 'fastify'
import type { AuditLogEntry } from '@bulwark/sdk/audit'
import type { AuditLog } from '../log.ts'
import type { TreeHeads } from '../tree-heads.ts'
import type { VerifyReport } from '../verify-store.ts'
import { AuditErrors } from '../errors.ts'
import { intParam, requireOperator, requireReader, stringParam, type Access } from './access.ts'

export type LogRouteDeps = { access: Access; log: AuditLog; heads: TreeHeads; verify(): Promise<VerifyReport>; /** A follower catches up first. */ refresh(): Promise<void> }

const MAX = Number.MAX_SAFE_INTEGER
const hex = (list: Buffer[]) => list.map((b) => b.toString('hex'))

export function registerLogRoutes(app: FastifyInstance, deps: LogRouteDeps): void {
  const { access, log, heads } = deps
  app.get('/v1/events', async (request) => {
    requireReader(request, access)
    await deps.refresh()
    const after = intParam(request.query, 'after', { min: -1, max: MAX, fallback: -1 })!
    const limit = intParam(request.query, 'limit', { min: 1, max: 1000, fallback: 100 })!
    const type = stringParam(request.query, 'type', /^[a-z][a-z0-9_.]{0,63}$/)
    const order = stringParam(request.query, 'order', /^(asc|desc)$/) ?? 'asc'
    const before = intParam(request.query, 'before', { min: 0, max: MAX })
    const entries = await readEntries(log, { after, limit, type, order: order as 'asc' | 'desc', before })
    return { entries, treeSize: log.size, next: entries.length > 0 ? Math.max(...entries.map((e) => e.index)) : after }
  })

  app.get('/v1/tree-head', async (request) => {
    requireReader(request, access)
    await deps.refresh()
    return await heads.current()
  })

  app.get('/v1/proofs/inclusion', async (request) => {
    requireReader(request, access)
    await deps.refresh()
    const id = stringParam(request.query, 'id', /^[A-Za-z0-9_-]{8,64}$/)
    let index = intParam(request.query, 'index', { min: 0, max: MAX })
    if (id !== undefined) index = await log.indexOfEvent(id)
    if (index === undefined) throw id !== undefined ? AuditErrors.notFound(`no entry for event \`${id}\``) : AuditErrors.badQuery('give `index` or `id`')
    if (index < log.base) throw AuditErrors.archived(`entry ${index} was archived (entries below ${log.base} are in the segments)`)
    const head = await sizeHead(request.query)
    if (index >= head.treeSize) throw AuditErrors.notFound(`entry ${index} is not in a tree of ${head.treeSize}`)
    return { index, treeSize: head.treeSize, leafHash: log.tree.leaf(index).toString('hex'), proof: hex(log.tree.inclusionProof(index, head.treeSize)), treeHead: head }
  })

  app.get('/v1/proofs/consistency', async (request) => {
    requireOperator(request, access)
    await deps.refresh()
    const head = await sizeHead(request.query, 'second')
    const first = intParam(request.query, 'first', { min: 0, max: head.treeSize })
    if (first === undefined) throw AuditErrors.badQuery('`first` is required')
    if (first > 0 && first < log.base) throw AuditErrors.archived(`size ${first} is before the archive cut at ${log.base}: check it against the segments`)
    return { first, second: head.treeSize, firstRoot: log.tree.root(first).toString('hex'), proof: hex(log.tree.consistencyProof(first, head.treeSize)), treeHead: head }
  })

  app.get('/v1/verify', async (request) => {
    requireOperator(request, access)
    return await deps.verify()
  })

  /** The head for `?size=` (which must have been signed) or a current one. */
  async function sizeHead(query: unknown, name = 'size') {
    const size = intParam(query, name, { min: 0, max: MAX })
    if (size === undefined) return await heads.current()
    if (size > log.size) throw AuditErrors.badQuery(`the log holds ${log.size} entries`)
    if (size < log.base) throw AuditErrors.archived(`size ${size} is before the archive cut at ${log.base}`)
    const head = await heads.bySize(size)
    if (head) return head
    // No head was signed at exactly that size: answer for it unsigned, the caller checks against its own.
    return { treeSize: size, rootHash: log.tree.root(size).toString('hex'), timestamp: 0, signature: '', keyId: '' }
  }
}

export async function readEntries(log: AuditLog, q: { after: number; limit: number; type?: string; order: 'asc' | 'desc'; before?: number }): Promise<AuditLogEntry[]> {
  return (await log.query(q)).map((data) => JSON.parse(data) as AuditLogEntry)
}
