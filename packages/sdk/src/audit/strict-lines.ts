// Exact-bytes reading of export lines and stored leaves. A line is accepted
// only when it is byte for byte the canonical serialization of a record of
// exactly the shape the log writes: JSON.parse alone would take extra
// whitespace, reordered keys, `1.0` for `1` and, worst, a duplicate key (it
// keeps the last; a reader that keeps the first sees another event) and
// re-derive the same leaf hash, so an edited line would still verify.
import { createPublicKey } from 'node:crypto'
import { canonicalJson } from './canonical-json.ts'
import { ACTOR_KEYS, EVENT_KEYS, entryLeafData, exportLineFromLeaf, type AuditLogEntry } from './entry.ts'
import { leafHash } from './merkle-hash.ts'
import { frontierHeights } from './merkle-tree.ts'
import { keyIdOf, type SignedTreeHead } from './tree-head.ts'

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string }

type Json = Record<string, unknown>

const HEX64 = /^[0-9a-f]{64}$/
const EVENT_REQUIRED = ['action', 'actor', 'component', 'id', 'outcome', 'time', 'type']
const LINE_KEYS = ['event', 'index', 'leafHash', 'received']
const LEAF_KEYS = ['event', 'index', 'received']
const HEAD_KEYS = ['keyId', 'publicKey', 'rootHash', 'signature', 'timestamp', 'treeSize']

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)
const bad = (problem: string): { ok: false; problem: string } => ({ ok: false, problem })

/**
 * The first key that occurs twice in one object of a JSON text (after
 * unescaping, so `"a"` and `"\u0061"` are the same key); undefined if none.
 * Only for text JSON.parse accepted.
 */
export function findDuplicateKey(text: string): string | undefined {
  const stack: Array<{ keys: Set<string>; expectKey: boolean } | undefined> = []
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '{') stack.push({ keys: new Set(), expectKey: true })
    else if (c === '[') stack.push(undefined)
    else if (c === '}' || c === ']') stack.pop()
    else if (c === ',') { const top = stack[stack.length - 1]; if (top) top.expectKey = true }
    else if (c === '"') {
      let j = i + 1
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      const top = stack[stack.length - 1]
      if (top?.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string
        if (top.keys.has(key)) return key
        top.keys.add(key)
        top.expectKey = false
      }
      i = j
    }
  }
  return undefined
}

function notCanonical(text: string): string {
  const duplicate = findDuplicateKey(text)
  if (duplicate !== undefined) return `duplicate key \`${duplicate.slice(0, 64)}\``
  return 'not the canonical serialization of its record (whitespace, key order, number or string format)'
}

/** Exactly `keys`, each present: the first unknown or missing one, or undefined. */
function exactKeys(value: Json, keys: readonly string[], where: string): string | undefined {
  for (const key of Object.keys(value)) if (!keys.includes(key)) return `unknown field \`${where}${key.slice(0, 64)}\``
  for (const key of keys) if (!Object.hasOwn(value, key)) return `missing field \`${where}${key}\``
  return undefined
}

function eventShape(event: unknown): string | undefined {
  if (!isRecord(event)) return '`event` is not an object'
  for (const key of Object.keys(event)) if (!EVENT_KEYS.has(key)) return `unknown field \`event.${key.slice(0, 64)}\``
  for (const key of EVENT_REQUIRED) if (!Object.hasOwn(event, key)) return `missing field \`event.${key}\``
  for (const [key, value] of Object.entries(event)) {
    if (key !== 'actor' && key !== 'details' && typeof value !== 'string') return `\`event.${key}\` is not a string`
  }
  const actor = event.actor
  if (!isRecord(actor)) return '`event.actor` is not an object'
  for (const [key, value] of Object.entries(actor)) {
    if (!ACTOR_KEYS.has(key)) return `unknown field \`event.actor.${key.slice(0, 64)}\``
    if (typeof value !== 'string') return `\`event.actor.${key}\` is not a string`
  }
  if (!Object.hasOwn(actor, 'kind')) return 'missing field `event.actor.kind`'
  if (Object.hasOwn(event, 'details')) {
    if (!isRecord(event.details)) return '`event.details` is not an object'
    for (const [key, value] of Object.entries(event.details)) {
      if (value !== null && !['string', 'number', 'boolean'].includes(typeof value)) return `\`event.details.${key.slice(0, 64)}\` is not a string, number, boolean or null`
    }
  }
  return undefined
}

function entryShape(value: unknown, keys: readonly string[]): string | undefined {
  if (!isRecord(value)) return 'not an object'
  const keyProblem = exactKeys(value, keys, '')
  if (keyProblem) return keyProblem
  if (!Number.isSafeInteger(value.index) || (value.index as number) < 0) return '`index` is not a non-negative integer'
  if (typeof value.received !== 'string') return '`received` is not a string'
  if (keys === LINE_KEYS && (typeof value.leafHash !== 'string' || !HEX64.test(value.leafHash))) return '`leafHash` is not 64 lowercase hex digits'
  return eventShape(value.event)
}

const toEntry = (value: Json): AuditLogEntry => ({ index: value.index as number, received: value.received as string, event: value.event as AuditLogEntry['event'] })

/**
 * One entry line of an export (already JSON.parse'd as `value`): its entry and
 * leaf hash when the line is exactly `exportLine(entry)`; a content change
 * under an unchanged stated leaf hash is told apart from a formatting one.
 */
export function checkEntryLine(line: string, value: unknown): Checked<{ entry: AuditLogEntry; hash: Buffer }> {
  const shape = entryShape(value, LINE_KEYS)
  if (shape) return bad(shape)
  const entry = toEntry(value as Json)
  const data = entryLeafData(entry)
  const hash = leafHash(data)
  if (exportLineFromLeaf(data, hash) === line) return { ok: true, value: { entry, hash } }
  if (exportLineFromLeaf(data, Buffer.from((value as Json).leafHash as string, 'hex')) === line) return bad('content does not match its leaf hash')
  return bad(notCanonical(line))
}

/** Stored leaf bytes (`{"event":…,"index":N,"received":"…"}`): the entry when they are exactly its canonical serialization. */
export function checkLeafData(data: string): Checked<AuditLogEntry> {
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return bad('not valid JSON')
  }
  const shape = entryShape(value, LEAF_KEYS)
  if (shape) return bad(shape)
  const entry = toEntry(value as Json)
  return entryLeafData(entry) === data ? { ok: true, value: entry } : bad(notCanonical(data))
}

/** A signed tree head record of exactly the exported shape (not its signature: that is the caller's). */
export function checkTreeHeadShape(head: unknown, where = 'treeHead.'): Checked<SignedTreeHead> {
  if (!isRecord(head)) return bad(`\`${where.slice(0, -1)}\` is not an object`)
  const keyProblem = exactKeys(head, HEAD_KEYS, where)
  if (keyProblem) return bad(keyProblem)
  if (!Number.isSafeInteger(head.treeSize) || (head.treeSize as number) < 0) return bad(`\`${where}treeSize\` is not a non-negative integer`)
  if (!Number.isSafeInteger(head.timestamp) || (head.timestamp as number) < 0) return bad(`\`${where}timestamp\` is not a non-negative integer`)
  if (typeof head.rootHash !== 'string' || !HEX64.test(head.rootHash)) return bad(`\`${where}rootHash\` is not 64 lowercase hex digits`)
  if (typeof head.keyId !== 'string' || !HEX64.test(head.keyId)) return bad(`\`${where}keyId\` is not 64 lowercase hex digits`)
  // Base64 and PEM decoders are lenient (padding, stray characters, line
  // breaks): only the one encoding the log writes is taken.
  if (typeof head.signature !== 'string' || Buffer.from(head.signature, 'base64').toString('base64') !== head.signature) return bad(`\`${where}signature\` is not canonical base64`)
  if (typeof head.publicKey !== 'string') return bad(`\`${where}publicKey\` is not a string`)
  let key
  try {
    key = createPublicKey(head.publicKey)
  } catch {
    return bad(`\`${where}publicKey\` is not a public key`)
  }
  if (key.asymmetricKeyType !== 'ed25519' || key.export({ type: 'spki', format: 'pem' }) !== head.publicKey) return bad(`\`${where}publicKey\` is not an Ed25519 SPKI PEM as the log writes it`)
  if (keyIdOf(key) !== head.keyId) return bad(`\`${where}keyId\` is not the id of \`${where}publicKey\``)
  return { ok: true, value: head as SignedTreeHead }
}

/** The closing `{"treeHead":…}` line (already JSON.parse'd as `value`). */
export function checkTreeHeadLine(line: string, value: unknown): Checked<SignedTreeHead> {
  if (!isRecord(value)) return bad('not an object')
  const keyProblem = exactKeys(value, ['treeHead'], '')
  if (keyProblem) return bad(keyProblem)
  const head = checkTreeHeadShape(value.treeHead)
  if (!head.ok) return head
  return canonicalJson({ treeHead: head.value }) === line ? head : bad(notCanonical(line))
}

/** An archive cut: the signed head at the cut and its frontier (hex), largest subtree first. */
export type Checkpoint = { frontier: string[]; treeHead: SignedTreeHead }

/** The opening `{"checkpoint":…}` line (already JSON.parse'd as `value`); the frontier's root is the caller's to check. */
export function checkCheckpointLine(line: string, value: unknown): Checked<Checkpoint> {
  if (!isRecord(value)) return bad('not an object')
  const keyProblem = exactKeys(value, ['checkpoint'], '')
  if (keyProblem) return bad(keyProblem)
  const checkpoint = value.checkpoint
  if (!isRecord(checkpoint)) return bad('`checkpoint` is not an object')
  const inner = exactKeys(checkpoint, ['frontier', 'treeHead'], 'checkpoint.')
  if (inner) return bad(inner)
  const head = checkTreeHeadShape(checkpoint.treeHead, 'checkpoint.treeHead.')
  if (!head.ok) return head
  const frontier = checkpoint.frontier
  if (!Array.isArray(frontier) || !frontier.every((h) => typeof h === 'string' && HEX64.test(h))) return bad('`checkpoint.frontier` is not a list of 64-hex-digit hashes')
  if (frontier.length !== frontierHeights(head.value.treeSize).length) return bad(`\`checkpoint.frontier\` of a tree of ${head.value.treeSize} holds ${frontierHeights(head.value.treeSize).length} hashes`)
  const result: Checkpoint = { frontier: frontier as string[], treeHead: head.value }
  return canonicalJson({ checkpoint: result }) === line ? { ok: true, value: result } : bad(notCanonical(line))
}
