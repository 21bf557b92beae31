// `bulwark audit`: read, export, verify and archive the tamper-evident audit log.
// Exports are JSON Lines closed by a signed tree head; verify names the first
// bad entry, offline (signature + hashes, with the audit public key from the
// home when present) and, when the service answers, against the live log.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import {
  bisectFirstBadIndex, checkpointStart, exportFileLines, samePublicKey, verifyConsistency, verifyExport, verifyTreeHead,
  type AuditLogEntry, type ExportVerification, type SignedTreeHead,
} from '@bulwark/sdk/audit'
import { intFlag, parseArgs, UsageError } from '../args.ts'
import { CliError, type CliContext } from '../context.ts'

export const usage = `bulwark audit <command> [--json]
  tail [--type T] [--limit N] [--follow]   the latest entries (oldest first); --follow keeps printing
  export --out FILE                        JSON Lines: one entry per line, closed by the signed tree head
  verify [--file FILE]                     verify the live log, or an export or segment file (offline,
                                           and against the live log when it answers)
  archive [--up-to N] [--out DIR]          archive what the retention limits ask for (or every entry
                                           below N) to a signed segment; --out also copies it to DIR
Exit codes: 0 verified/success, 1 verification failed or the service refused, 2 bad usage.`

const PAGE = 20_000
const TYPE = /^[a-z][a-z0-9_.]{0,63}$/

function describe(entry: AuditLogEntry): string {
  const e = entry.event
  const who = e.actor.id ?? e.actor.clientId ?? e.actor.spiffeId ?? e.actor.kind
  return [`#${entry.index}`, e.time, e.component, e.type, e.outcome, who, e.actor.ip ?? '', e.resource ?? '', e.reason ?? ''].filter((p) => p !== '').join('  ')
}

function headLine(head: SignedTreeHead): string {
  return `tree head: ${head.treeSize} entries, root ${head.rootHash.slice(0, 16)}…, signed ${new Date(head.timestamp).toISOString()} by key ${head.keyId.slice(0, 16)}…`
}

function localPublicKey(ctx: CliContext): string | undefined {
  const path = join(ctx.paths.componentDir('audit'), 'tree-head.pub.pem')
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined
}

async function tail(ctx: CliContext, flags: Record<string, string | boolean>): Promise<number> {
  const type = flags.type as string | undefined
  if (type !== undefined && !TYPE.test(type)) throw new UsageError(`tail: \`${type}\` is not an event type`)
  const limit = intFlag(flags, 'limit', 1, 1000) ?? 20
  const q = type ? `&type=${encodeURIComponent(type)}` : ''
  const first = await ctx.callOk('audit', 'GET', `/v1/events?order=desc&limit=${limit}${q}`)
  let entries = ((first.body as { entries: AuditLogEntry[] }).entries).reverse()
  let last = (first.body as { treeSize: number }).treeSize - 1
  for (;;) {
    for (const entry of entries) ctx.out(ctx.json ? JSON.stringify(entry) : describe(entry))
    if (entries.length > 0) last = Math.max(last, entries[entries.length - 1]!.index)
    if (!flags.follow) return 0
    await new Promise((resolve) => setTimeout(resolve, 1000))
    entries = ((await ctx.callOk('audit', 'GET', `/v1/events?after=${last}&limit=1000${q}`)).body as { entries: AuditLogEntry[] }).entries
  }
}

async function exportLog(ctx: CliContext, flags: Record<string, string | boolean>): Promise<number> {
  const out = flags.out
  if (typeof out !== 'string') throw new UsageError('export: --out FILE is required')
  const head = (await ctx.callOk('audit', 'GET', '/v1/tree-head')).body as SignedTreeHead
  const temp = `${out}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(temp, '', { mode: 0o600, flag: 'wx' })
  let check: ExportVerification
  try {
    // start=0 is the first live entry (after an archive cut, the checkpoint opens the file); the answer says where that is.
    for (let start = 0, first = 0; start === 0 || start < head.treeSize;) {
      const page = await ctx.callOk('audit', 'GET', `/v1/export?size=${head.treeSize}&start=${start}&limit=${PAGE}`)
      appendFileSync(temp, page.text)
      if (start === 0) first = Number(page.headers['x-bulwark-first-index'] ?? 0)
      start = (start === 0 ? first : start) + PAGE
      if (head.treeSize === 0) break
    }
    const key = localPublicKey(ctx)
    check = await verifyExport(lines(temp), key ? { trustedPublicKey: key } : {})
    // An export of a tampered store is still written (it is evidence), but the command fails.
    renameSync(temp, out)
  } finally {
    rmSync(temp, { force: true })
  }
  if (!check.ok) throw new CliError(`export: written to ${out}, but it does not verify: ${check.firstBadIndex === undefined ? '' : `first bad entry: index ${check.firstBadIndex}: `}${check.problem}`)
  if (ctx.json) ctx.out(JSON.stringify({ file: out, entries: check.entries, treeHead: head }))
  else ctx.out(`exported ${check.entries} entries to ${out}\n${headLine(head)}`)
  return 0
}

/** The file's lines as exact bytes: verify binds every byte, so nothing is trimmed or re-decoded leniently. */
function lines(file: string): AsyncIterable<Buffer> {
  return exportFileLines(file)
}

function report(ctx: CliContext, result: { ok: boolean; firstBadIndex?: number; problem?: string; treeHead?: SignedTreeHead; entries?: number; live?: string }): number {
  if (ctx.json) ctx.out(JSON.stringify(result))
  else if (result.ok) ctx.out(`ok: ${result.entries ?? result.treeHead?.treeSize ?? 0} entries verified\n${result.treeHead ? headLine(result.treeHead) : ''}${result.live ? `\n${result.live}` : ''}`)
  else ctx.out(`FAILED: ${result.firstBadIndex === undefined ? '' : `first bad entry: index ${result.firstBadIndex}: `}${result.problem ?? 'verification failed'}`)
  return result.ok ? 0 : 1
}

async function verifyLive(ctx: CliContext): Promise<number> {
  const res = await ctx.callOk('audit', 'GET', '/v1/verify')
  const body = res.body as { ok: boolean; treeSize: number; firstBadIndex?: number; problem?: string; treeHead?: SignedTreeHead }
  const key = localPublicKey(ctx) ?? body.treeHead?.publicKey
  if (body.ok && (!body.treeHead || !key || !verifyTreeHead(body.treeHead, key))) {
    return report(ctx, { ok: false, problem: 'the service\'s tree head does not verify with the audit public key' })
  }
  return report(ctx, { ...body, entries: body.treeSize })
}

async function liveHead(ctx: CliContext): Promise<SignedTreeHead | undefined> {
  try {
    const res = await ctx.call('audit', 'GET', '/v1/tree-head', undefined, { timeoutMs: 5000 })
    return res.status === 200 ? res.body as SignedTreeHead : undefined
  } catch {
    return undefined
  }
}

const hashes = (list: string[]) => list.map((h) => Buffer.from(h, 'hex'))

async function verifyFile(ctx: CliContext, file: string): Promise<number> {
  if (!existsSync(file)) throw new UsageError(`verify: no file \`${file}\``)
  const local = localPublicKey(ctx)
  const live = existsSync(ctx.paths.config) ? await liveHead(ctx) : undefined
  if (live?.publicKey && local && !samePublicKey(live.publicKey, local)) return report(ctx, { ok: false, problem: 'the live audit service signs with a key other than the one in this home' })
  const trusted = local ?? live?.publicKey
  const result: ExportVerification = await verifyExport(lines(file), { ...(trusted ? { trustedPublicKey: trusted } : {}), keepLeafHashes: live !== undefined })
  const head = result.treeHead
  if (!result.ok) {
    if (result.rootMismatch && live && head && head.treeSize <= live.treeSize && result.leafHashes) {
      const archived = new Error('archived')
      try {
        const index = await bisectFirstBadIndex(result.leafHashes, head.treeSize, Buffer.from(head.rootHash, 'hex'), async (first) => {
          const res = await ctx.call('audit', 'GET', `/v1/proofs/consistency?first=${first}&second=${head.treeSize}`)
          if (res.status === 410) throw archived
          if (res.status !== 200) throw new CliError(`verify: the audit service answered ${res.status} for a consistency proof`)
          return hashes((res.body as { proof: string[] }).proof)
        }, result.checkpoint ? checkpointStart(result.checkpoint) : undefined)
        return report(ctx, { ok: false, firstBadIndex: index, problem: `entry ${index} differs from the live log`, treeHead: head })
      } catch (error) {
        // A segment older than the live log's cut: the live log cannot name the entry; the offline verdict stands.
        if (error !== archived) throw error
      }
    }
    return report(ctx, { ok: false, ...(result.firstBadIndex === undefined ? {} : { firstBadIndex: result.firstBadIndex }), problem: result.problem, ...(head ? { treeHead: head } : {}) })
  }
  if (!live || !head) return report(ctx, { ok: true, entries: result.entries, ...(head ? { treeHead: head } : {}), live: 'live log not reachable: checked offline only' })
  if (head.treeSize > live.treeSize) return report(ctx, { ok: false, firstBadIndex: live.treeSize, problem: `the live log holds ${live.treeSize} entries, fewer than the export's ${head.treeSize}`, treeHead: head })
  const answer = await ctx.call('audit', 'GET', `/v1/proofs/consistency?first=${head.treeSize}&second=${live.treeSize}`)
  if (answer.status === 410) {
    // An older segment: the live log starts after it; the next segment's checkpoint carries the chain on.
    return report(ctx, { ok: true, entries: result.entries, treeHead: head, live: `older than the live log's archive cut: checked offline (the next segment or export must open with this file's tree head)` })
  }
  if (answer.status !== 200) throw new CliError(`verify: the audit service answered ${answer.status} for a consistency proof`)
  const proof = answer.body as { proof: string[] }
  if (!verifyConsistency(head.treeSize, live.treeSize, Buffer.from(head.rootHash, 'hex'), Buffer.from(live.rootHash, 'hex'), hashes(proof.proof))) {
    return report(ctx, { ok: false, problem: 'the export\'s signed tree head is not consistent with the live log (the log was rewritten)', treeHead: head })
  }
  return report(ctx, { ok: true, entries: result.entries, treeHead: head, live: `consistent with the live log (${live.treeSize} entries)` })
}

type Archived = { segment: string; firstIndex: number; treeSize: number; sha256: string; treeHead: SignedTreeHead }

async function archive(ctx: CliContext, flags: Record<string, string | boolean>): Promise<number> {
  const upTo = intFlag(flags, 'up-to', 1, Number.MAX_SAFE_INTEGER)
  const out = flags.out
  if (out !== undefined && typeof out !== 'string') throw new UsageError('archive: --out DIR')
  const res = await ctx.callOk('audit', 'POST', '/v1/archive', upTo === undefined ? {} : { upTo })
  const archived = (res.body as { archived: Archived | null }).archived
  if (!archived) {
    if (ctx.json) ctx.out(JSON.stringify({ archived: null }))
    else ctx.out('nothing to archive: the live log is within its retention limits')
    return 0
  }
  let copy: string | undefined
  if (typeof out === 'string') {
    mkdirSync(out, { recursive: true, mode: 0o700 })
    copy = join(out, archived.segment)
    const file = await ctx.callOk('audit', 'GET', `/v1/archive/segments/${archived.segment}`)
    writeFileSync(copy, file.text, { mode: 0o600, flag: 'wx' })
    const key = localPublicKey(ctx)
    const check = await verifyExport(lines(copy), key ? { trustedPublicKey: key } : {})
    const sha256 = createHash('sha256').update(readFileSync(copy)).digest('hex')
    if (!check.ok || sha256 !== archived.sha256) throw new CliError(`archive: the copy in ${copy} does not verify: ${check.problem ?? 'its SHA-256 differs from the one the service recorded'}`)
  }
  if (ctx.json) ctx.out(JSON.stringify({ archived, ...(copy ? { file: copy } : {}) }))
  else {
    ctx.out(`archived entries ${archived.firstIndex} to ${archived.treeSize - 1} to segment ${archived.segment}\nsha256 ${archived.sha256}\n${headLine(archived.treeHead)}${copy ? `\ncopied to ${copy} (verified)` : ''}`)
  }
  return 0
}

export async function run(args: string[], context: CliContext): Promise<number> {
  const { positionals, flags } = parseArgs(args, { json: 'boolean', type: 'string', limit: 'string', follow: 'boolean', out: 'string', file: 'string', 'up-to': 'string' })
  const ctx: CliContext = flags.json === true ? { ...context, json: true } : context
  const [command, ...rest] = positionals
  if (rest.length > 0) throw new UsageError(`unexpected argument \`${rest[0]}\``)
  switch (command) {
    case 'tail': return await tail(ctx, flags)
    case 'export': return await exportLog(ctx, flags)
    case 'verify': return typeof flags.file === 'string' ? await verifyFile(ctx, flags.file) : await verifyLive(ctx)
    case 'archive': return await archive(ctx, flags)
    default: throw new UsageError(command ? `unknown command \`${command}\`` : 'a command is required')
  }
}
