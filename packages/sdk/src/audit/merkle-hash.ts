// RFC 6962 §2.1 hashing: leaves are SHA-256(0x00 || data), interior nodes are
// SHA-256(0x01 || left || right), the empty tree is SHA-256(""). The 0x00/0x01
// prefixes keep a leaf from ever being passed off as an interior node.
import { hash } from 'node:crypto'

export const HASH_SIZE = 32

const LEAF_PREFIX = Buffer.from([0])

export function sha256(data: Uint8Array): Buffer {
  return hash('sha256', data, 'buffer')
}

export function leafHash(data: Uint8Array | string): Buffer {
  // For text, U+0000 encodes as the single byte 0x00: one hashing call, no copies.
  if (typeof data === 'string') return hash('sha256', `\u0000${data}`, 'buffer')
  return sha256(Buffer.concat([LEAF_PREFIX, data]))
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  const buffer = Buffer.allocUnsafe(1 + HASH_SIZE * 2)
  buffer[0] = 1
  buffer.set(left, 1)
  buffer.set(right, 1 + HASH_SIZE)
  return sha256(buffer)
}

export const EMPTY_ROOT: Buffer = sha256(new Uint8Array(0))

/** The largest power of two strictly smaller than `n` (n >= 2), the RFC's split point k. */
export function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}
