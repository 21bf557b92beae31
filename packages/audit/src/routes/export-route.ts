// GET /v1/export[?size=N&start=S&limit=L]: JSON Lines, one entry per line
// (with its leaf hash as the log computed it), closed by the signed tree head
// of size N (a fresh one by default) carrying the public key. Paging with
// start/limit lets the CLI fetch a large log in pieces of one consistent export.
// After an archive cut the export starts at the cut: `start=0` means the first
// live entry, and the first page opens with the signed checkpoint line.
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { AuditSink } from '@bulwark/core'
import { canonicalJson, exportLineFromLeaf, type Checkpoint, type SignedTreeHead } from '@bulwark/sdk/audit'
import type { AuditLog } from '../log.ts'
import type { TreeHeads } from '../tree-heads.ts'
import { AuditErrors } from '../errors.ts'
import { intParam, requireOperator, type Access } from './access.ts'

const CHUNK = 2000

async function* lines(log: AuditLog, head: SignedTreeHead, start: number, end: number, checkpoint: Checkpoint | undefined): AsyncGenerator<string> {
  if (checkpoint && start === checkpoint.treeHead.treeSize) yield `${canonicalJson({ checkpoint: { frontier: checkpoint.frontier, treeHead: checkpoint.treeHead } })}\n`
  for (let from = start; from < end; from += CHUNK) {
    const to = Math.min(from + CHUNK, end)
    let out = ''
    for (const row of await log.rows(from, to)) {
      // The hash the log computed when it appended the entry (not the stored column), so a changed row shows.
      const hash = row.seq < log.size ? log.tree.leafView(row.seq) : row.leaf_hash
      try {
        out += `${exportLineFromLeaf(row.data, hash)}\n`
      } catch {
        out += `${JSON.stringify({ index: row.seq, corrupt: row.data })}\n`
      }
    }
    yield out
  }
  if (end === head.treeSize) yield `${canonicalJson({ treeHead: head })}\n`
}

export function registerExportRoute(app: FastifyInstance, deps: { access: Access; log: AuditLog; heads: TreeHeads; audit: AuditSink; refresh(): Promise<void>; checkpoint(): Checkpoint | undefined }): void {
  app.get('/v1/export', async (request, reply) => {
    requireOperator(request, deps.access)
    // An export is recorded (`audit.exported`) before it streams: only the writer can, so a follower sends the caller there.
    if (!deps.log.writable) throw AuditErrors.notLeader('exports are served by the writer replica; retry')
    await deps.refresh()
    const size = intParam(request.query, 'size', { min: 0, max: deps.log.size })
    const head = size === undefined ? await deps.heads.current() : await deps.heads.bySize(size)
    if (size !== undefined && size < deps.log.base) throw AuditErrors.archived(`entries below ${deps.log.base} were archived; export a size from ${deps.log.base} on`)
    if (!head) throw AuditErrors.noTreeHead(`no signed tree head of size ${size}; take one from GET /v1/tree-head`)
    const asked = intParam(request.query, 'start', { min: 0, max: head.treeSize, fallback: 0 })!
    const first = deps.log.base
    if (asked > 0 && asked < first) throw AuditErrors.archived(`entries below ${first} were archived (they are in the segments)`)
    const start = Math.max(asked, first)
    const limit = intParam(request.query, 'limit', { min: 1, max: Number.MAX_SAFE_INTEGER, fallback: Number.MAX_SAFE_INTEGER })!
    const end = Math.min(head.treeSize, start + limit)
    if (asked === 0) {
      deps.audit.emit({
        type: 'audit.exported', actor: { kind: 'operator', spiffeId: request.peer!.spiffeId }, action: 'audit.export',
        outcome: 'success', requestId: String(request.id), details: { treeSize: head.treeSize },
      })
    }
    reply.header('content-type', 'application/x-ndjson; charset=utf-8')
    reply.header('x-bulwark-tree-size', String(head.treeSize))
    reply.header('x-bulwark-first-index', String(first))
    return reply.send(Readable.from(lines(deps.log, head, start, end, first > 0 ? deps.checkpoint() : undefined)))
  })
}
