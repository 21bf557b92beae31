// AES-256-GCM sealing with node:crypto (NIST SP 800-38D): a fresh 96-bit IV per
// message, 128-bit tag, and additional authenticated data binding the
// ciphertext to where it belongs. Layout: iv(12) || ciphertext || tag(16).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

const IV_BYTES = 12
const TAG_BYTES = 16

export class AeadError extends Error {
  constructor() {
    super('ciphertext failed authentication')
    this.name = 'AeadError'
  }
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(aad)
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([iv, body, cipher.getAuthTag()])
}

/** Opens a sealed blob; throws AeadError when anything (key, AAD, bytes) is wrong. */
export function open(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new AeadError()
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES })
    decipher.setAAD(aad)
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()])
  } catch {
    throw new AeadError()
  }
}

/** Length-prefixed fields, so `a\0b` + `c` can never collide with `a` + `b\0c`. */
export function aadOf(...fields: Array<string | number>): Buffer {
  const parts: Buffer[] = []
  for (const field of fields) {
    const bytes = Buffer.from(String(field), 'utf8')
    const length = Buffer.alloc(4)
    length.writeUInt32BE(bytes.length)
    parts.push(length, bytes)
  }
  return Buffer.concat(parts)
}
