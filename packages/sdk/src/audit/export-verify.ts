// Offline verification of an export or an archive segment (JSON Lines: an
// optional checkpoint, one entry per line, closed by `{"treeHead":…}`). Names
// the first bad index for an edited, removed, inserted, reordered or
// truncated entry; a line that is not byte for byte the canonical
// serialization of its record is an edited one. When the entries only fail as
// a whole (every line self-consistent but the root differs from the signed
// one), it reports `rootMismatch` and hands back the recomputed leaf hashes so
// a caller with access to the live log can bisect with consistency proofs.
import { createReadStream } from 'node:fs'
import { createMerkleTree, createRootAccumulator, type TreeStart } from './merkle-tree.ts'
import { verifyConsistency } from './merkle-verify.ts'
import { samePublicKey, verifyTreeHead, type SignedTreeHead } from './tree-head.ts'
import { checkCheckpointLine, checkEntryLine, checkTreeHeadLine, type Checkpoint } from './strict-lines.ts'

export type ExportVerification = {
  ok: boolean
  /** Entries read before the verdict. */
  entries: number
  /** The first leaf index of the file: 0, or the size of the archive checkpoint it opens with. */
  firstIndex: number
  treeHead?: SignedTreeHead
  /** The signed checkpoint the file opens with (an export after an archive cut, or a segment after the first). */
  checkpoint?: Checkpoint
  /** The first entry index that is wrong, when it can be named. */
  firstBadIndex?: number
  problem?: string
  /** True when every entry is self-consistent but together they do not hash to the signed root. */
  rootMismatch?: boolean
  /** Recomputed leaf hashes from `firstIndex` on, packed 32 bytes each (only with `keepLeafHashes`). */
  leafHashes?: Buffer
}

export type VerifyExportOptions = {
  /** A key the tree head must be signed with (PEM); otherwise the key the export carries is used. */
  trustedPublicKey?: string
  keepLeafHashes?: boolean
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The lines of an export file as raw bytes, split on LF only: a CR, a BOM or
 * any other byte stays part of its line, so verify sees the file exactly.
 */
export async function* exportFileLines(path: string): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0)
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    const buffer = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk
    let start = 0
    for (let nl = buffer.indexOf(10); nl !== -1; nl = buffer.indexOf(10, start)) {
      yield buffer.subarray(start, nl)
      start = nl + 1
    }
    rest = buffer.subarray(start)
  }
  if (rest.length > 0) yield rest
}

/** The frontier a checkpoint carries, as a tree start. */
export function checkpointStart(checkpoint: Checkpoint): TreeStart {
  return { size: checkpoint.treeHead.treeSize, frontier: checkpoint.frontier.map((h) => Buffer.from(h, 'hex')) }
}

/**
 * Verifies an export or an archive segment:
 *   {"checkpoint":{"frontier":[…],"treeHead":{…}}}        first, only after an archive cut
 *   {"event":…,"index":N,"leafHash":"…","received":"…"}   one per entry, in index order
 *   {"treeHead":{…}}                                       the signed head over all of it
 * Every line must be byte for byte the canonical serialization of its record
 * (strict-lines.ts) before any of its fields is used.
 */
export async function verifyExport(lines: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, options: VerifyExportOptions = {}): Promise<ExportVerification> {
  let acc = createRootAccumulator()
  const hashes: Buffer[] = []
  let firstIndex = 0
  let position = 0
  let lineNo = 0
  let treeHead: SignedTreeHead | undefined
  let checkpoint: Checkpoint | undefined
  const fail = (problem: string, firstBadIndex?: number): ExportVerification => ({
    ok: false, entries: position - firstIndex, firstIndex, problem,
    ...(firstBadIndex === undefined ? {} : { firstBadIndex }), ...(treeHead ? { treeHead } : {}), ...(checkpoint ? { checkpoint } : {}),
  })

  for await (const raw of lines) {
    lineNo += 1
    let line: string
    if (typeof raw === 'string') line = raw
    else {
      try {
        line = utf8.decode(raw)
      } catch {
        return fail(`entry ${position} (line ${lineNo}): not valid UTF-8`, treeHead ? undefined : position)
      }
    }
    if (treeHead) return fail(`line ${lineNo}: data after the tree head at entry ${position}`, Math.min(position, treeHead.treeSize))
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      return fail(`entry ${position} (line ${lineNo}): ${line.trim() === '' ? 'a blank line' : 'not valid JSON'}`, position)
    }
    const record = typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}
    if (Object.hasOwn(record, 'treeHead')) {
      const head = checkTreeHeadLine(line, value)
      if (!head.ok) return fail(`line ${lineNo} (the tree head): ${head.problem}`)
      treeHead = head.value
      continue
    }
    if (Object.hasOwn(record, 'checkpoint')) {
      if (lineNo !== 1) return fail(`line ${lineNo}: a checkpoint belongs on the first line only`, position)
      const checked = checkCheckpointLine(line, value)
      if (!checked.ok) return fail(`line 1 (the checkpoint): ${checked.problem}`)
      checkpoint = checked.value
      acc = createRootAccumulator(checkpointStart(checkpoint))
      if (acc.root().toString('hex') !== checkpoint.treeHead.rootHash) return fail('line 1 (the checkpoint): its frontier does not hash to its signed root')
      firstIndex = position = checkpoint.treeHead.treeSize
      continue
    }
    const checked = checkEntryLine(line, value)
    if (!checked.ok) return fail(`entry ${position} (line ${lineNo}): ${checked.problem}`, position)
    const { entry, hash } = checked.value
    if (entry.index !== position) return fail(`entry ${position} (line ${lineNo}): found index ${entry.index} where ${position} belongs`, position)
    acc.add(hash)
    if (options.keepLeafHashes) hashes.push(hash)
    position += 1
  }

  if (!treeHead) return fail(`truncated: no signed tree head after entry ${position - 1}`, position)
  const key = options.trustedPublicKey ?? treeHead.publicKey
  if (!key) return fail('the tree head carries no public key and none was given')
  for (const [name, head] of [['tree head', treeHead], ['checkpoint', checkpoint?.treeHead]] as const) {
    if (!head) continue
    if (options.trustedPublicKey && head.publicKey && !samePublicKey(options.trustedPublicKey, head.publicKey)) {
      return fail(`the ${name} is signed by a key other than the audit service's`)
    }
    if (!verifyTreeHead(head, key)) return fail(`the ${name} signature does not verify`)
  }
  if (treeHead.treeSize > position) return fail(`truncated: the tree head covers ${treeHead.treeSize} entries, the file holds ${position}`, position)
  if (treeHead.treeSize < position) return fail(`entries beyond the tree head: it covers ${treeHead.treeSize}, the file holds ${position}`, treeHead.treeSize)
  const packed = options.keepLeafHashes ? { leafHashes: Buffer.concat(hashes) } : {}
  if (acc.root().toString('hex') !== treeHead.rootHash) return { ...fail('the entries do not hash to the signed root'), rootMismatch: true, ...packed }
  return { ok: true, entries: position - firstIndex, firstIndex, treeHead, ...(checkpoint ? { checkpoint } : {}), ...packed }
}

/**
 * Finds the first bad entry of an export whose entries only fail as a whole,
 * by bisecting with consistency proofs from the live log: a prefix of k
 * recomputed leaves is good exactly when its root is consistent with the
 * trusted (signed) root of size n, so the first bad index is the largest good k.
 * With `start` (the export's checkpoint) the leaf hashes begin at its size.
 */
export async function bisectFirstBadIndex(
  leafHashes: Buffer, size: number, trustedRoot: Uint8Array,
  consistencyProof: (first: number) => Promise<Buffer[]>,
  start?: TreeStart,
): Promise<number> {
  const tree = createMerkleTree(start)
  for (let i = 0; i < leafHashes.length / 32; i++) tree.append(leafHashes.subarray(i * 32, (i + 1) * 32))
  let good = tree.base
  let bad = size
  while (bad - good > 1) {
    const mid = Math.floor((good + bad) / 2)
    const proof = await consistencyProof(mid)
    if (verifyConsistency(mid, size, tree.root(mid), trustedRoot, proof)) good = mid
    else bad = mid
  }
  return good
}
