// Signed tree heads (RFC 6962 §3.5): Ed25519 over the TreeHeadSignature
// structure (version, signature type, timestamp, tree size, root hash), so
// what is signed is fixed-width binary, not a JSON rendering of it.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'

export type SignedTreeHead = {
  treeSize: number
  /** Hex SHA-256 Merkle tree hash. */
  rootHash: string
  /** Milliseconds since the epoch. */
  timestamp: number
  /** Base64 Ed25519 signature over the RFC 6962 TreeHeadSignature bytes. */
  signature: string
  /** Hex SHA-256 of the public key's SPKI DER. */
  keyId: string
  /** SPKI PEM of the signing key (carried by exports so they verify offline). */
  publicKey?: string
}

export function treeHeadSigningInput(treeSize: number, rootHash: Uint8Array, timestamp: number): Buffer {
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new RangeError('tree size must be a non-negative integer')
  if (rootHash.length !== 32) throw new TypeError('root hash must be 32 bytes')
  const out = Buffer.alloc(2 + 8 + 8 + 32)
  out[0] = 0 // version v1
  out[1] = 1 // signature_type tree_hash
  out.writeBigUInt64BE(BigInt(Math.trunc(timestamp)), 2)
  out.writeBigUInt64BE(BigInt(treeSize), 10)
  out.set(rootHash, 18)
  return out
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex')
}

export function signTreeHead(privateKey: KeyObject, head: { treeSize: number; rootHash: Uint8Array; timestamp: number }): SignedTreeHead {
  const publicKey = createPublicKey(privateKey)
  const signature = sign(null, treeHeadSigningInput(head.treeSize, head.rootHash, head.timestamp), privateKey)
  return {
    treeSize: head.treeSize,
    rootHash: Buffer.from(head.rootHash).toString('hex'),
    timestamp: Math.trunc(head.timestamp),
    signature: signature.toString('base64'),
    keyId: keyIdOf(publicKey),
  }
}

/** True when the tree head is well formed and its signature verifies with `publicKey` (PEM or KeyObject). */
export function verifyTreeHead(head: SignedTreeHead, publicKey: KeyObject | string): boolean {
  try {
    if (!/^[0-9a-f]{64}$/.test(head.rootHash)) return false
    const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey
    if (key.asymmetricKeyType !== 'ed25519') return false
    const input = treeHeadSigningInput(head.treeSize, Buffer.from(head.rootHash, 'hex'), head.timestamp)
    return verify(null, input, key, Buffer.from(head.signature, 'base64'))
  } catch {
    return false
  }
}

/** Same key? Compares SPKI DER, so PEM formatting differences do not matter. */
export function samePublicKey(a: KeyObject | string, b: KeyObject | string): boolean {
  try {
    const ka = typeof a === 'string' ? createPublicKey(a) : a
    const kb = typeof b === 'string' ? createPublicKey(b) : b
    return keyIdOf(ka) === keyIdOf(kb)
  } catch {
    return false
  }
}
