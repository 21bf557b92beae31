// Checks an audit entry in the browser with WebCrypto only, trusting nothing
// the console server computed:
//   1. the leaf hash, SHA-256(0x00 || canonical JSON of {event, index, received}),
//      from the entry as shown (RFC 9162 §2.1.1; the log's own encoding,
//      packages/sdk/src/audit/entry.ts);
//   2. the inclusion path from that leaf to the root (RFC 9162 §2.1.3.2);
//   3. the root against the signed tree head: Ed25519 over the RFC 6962 §3.5
//      TreeHeadSignature bytes, with the key's id (SHA-256 of its SPKI) shown.
// Also runs under Node (globalThis.crypto), which is how its tests check it
// against the log's own code.
export type EntryLike = { index: number; received: string; event: unknown }
export type TreeHeadLike = { treeSize: number; rootHash: string; timestamp: number; signature: string; keyId: string }
export type ProofInput = { entry: EntryLike; proof: { index: number; treeSize: number; leafHash: string; proof: string[]; treeHead: TreeHeadLike }; publicKeyJwk: JsonWebKey }

export type ProofReport = {
  leaf: { computed: string; served: string; ok: boolean }
  inclusion: { ok: boolean; steps: number; root: string }
  signature: { ok: boolean; keyId: string; keyIdOk: boolean }
  verified: boolean
}

const subtle = () => globalThis.crypto.subtle

export const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')

export function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) throw new TypeError('not hex')
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text)
  return new Uint8Array(Array.from(raw, (c) => c.charCodeAt(0)))
}

/** Object keys sorted, undefined members dropped, no whitespace (the log's canonical JSON). */
export function canonicalJson(value: unknown): string {
  const sorted = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v
    if (Array.isArray(v)) return v.map((item) => (item === undefined ? null : sorted(item)))
    const out = Object.create(null) as Record<string, unknown>
    for (const key of Object.keys(v).sort()) {
      const member = (v as Record<string, unknown>)[key]
      if (member !== undefined) out[key] = sorted(member)
    }
    return out
  }
  return JSON.stringify(sorted(value))
}

async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  const length = parts.reduce((n, p) => n + p.length, 0)
  const all = new Uint8Array(length)
  let at = 0
  for (const p of parts) { all.set(p, at); at += p.length }
  return new Uint8Array(await subtle().digest('SHA-256', all))
}

export async function entryLeafHash(entry: EntryLike): Promise<Uint8Array> {
  const data = new TextEncoder().encode(canonicalJson({ event: entry.event, index: entry.index, received: entry.received }))
  return await sha256(new Uint8Array([0]), data)
}

const node = (left: Uint8Array, right: Uint8Array) => sha256(new Uint8Array([1]), left, right)

/** The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or undefined when the proof is malformed. */
export async function rootFromInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[]): Promise<Uint8Array | undefined> {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) return undefined
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return undefined
    if (fn % 2 === 1 || fn === sn) {
      r = await node(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      r = await node(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 ? r : undefined
}

/** The RFC 6962 §3.5 TreeHeadSignature bytes: version, type, timestamp, size, root. */
export function treeHeadSigningInput(treeSize: number, rootHash: Uint8Array, timestamp: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(2 + 8 + 8 + 32)
  const view = new DataView(out.buffer)
  out[0] = 0
  out[1] = 1
  view.setBigUint64(2, BigInt(Math.trunc(timestamp)))
  view.setBigUint64(10, BigInt(treeSize))
  out.set(rootHash, 18)
  return out
}

export async function verifyEntryProof(input: ProofInput): Promise<ProofReport> {
  const { entry, proof, publicKeyJwk } = input
  const head = proof.treeHead
  const leaf = await entryLeafHash(entry)
  const computed = toHex(leaf)
  let root: Uint8Array | undefined
  try {
    root = proof.treeSize === head.treeSize && proof.index === entry.index
      ? await rootFromInclusion(leaf, entry.index, proof.treeSize, proof.proof.map(fromHex))
      : undefined
  } catch {
    root = undefined
  }
  const rootHex = root ? toHex(root) : ''
  const inclusionOk = rootHex !== '' && rootHex === head.rootHash
  let signatureOk = false
  let keyId = ''
  try {
    const key = await subtle().importKey('jwk', publicKeyJwk, { name: 'Ed25519' }, true, ['verify'])
    keyId = toHex(new Uint8Array(await subtle().digest('SHA-256', await subtle().exportKey('spki', key))))
    const signed = treeHeadSigningInput(head.treeSize, fromHex(head.rootHash), head.timestamp)
    signatureOk = head.rootHash.length === 64 && await subtle().verify({ name: 'Ed25519' }, key, fromBase64(head.signature), signed)
  } catch {
    signatureOk = false
  }
  const keyIdOk = keyId !== '' && keyId === head.keyId
  const leafOk = computed === proof.leafHash
  return {
    leaf: { computed, served: proof.leafHash, ok: leafOk },
    inclusion: { ok: inclusionOk, steps: proof.proof.length, root: rootHex },
    signature: { ok: signatureOk, keyId, keyIdOk },
    verified: leafOk && inclusionOk && signatureOk && keyIdOk,
  }
}
