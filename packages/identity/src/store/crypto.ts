// At-rest protection for identity's store: keys derived from the master key
// with HKDF-SHA256 (info `bulwark/identity/<purpose>`), AES-256-GCM sealing,
// and keyed hashes so stored lookup keys never equal a token, code or id.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'

/** Derives a 32-byte key for one purpose from the 32-byte master key. */
export function deriveKey(masterKey: Uint8Array, purpose: string): Buffer {
  if (masterKey.byteLength < 32) throw new TypeError('master key must be at least 32 bytes')
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `bulwark/identity/${purpose}`, 32))
}

export type Sealer = {
  seal(plaintext: string, aad?: string): string
  open(sealed: string, aad?: string): string
}

/** AES-256-GCM: `v1.<iv>.<tag>.<ciphertext>` (base64url); `aad` binds a value to its row. */
export function createSealer(key: Buffer): Sealer {
  return {
    seal(plaintext, aad = '') {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      cipher.setAAD(Buffer.from(aad))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return `v1.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${body.toString('base64url')}`
    },
    open(sealed, aad = '') {
      const [version, iv, tag, body] = sealed.split('.')
      if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('sealed value is malformed')
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
      decipher.setAAD(Buffer.from(aad))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
    },
  }
}

/** HMAC-SHA256 of a value, base64url: the only form in which ids reach the disk. */
export function createKeyedHash(key: Buffer): (value: string) => string {
  return (value) => createHmac('sha256', key).update(value).digest('base64url')
}

/** Client secrets are 256-bit random values, so one fast hash is enough (no argon2 needed). */
export function hashClientSecret(secret: string): string {
  return `sha256$${createHmac('sha256', 'bulwark/identity/client-secret').update(secret).digest('base64url')}`
}

export function verifyClientSecret(stored: string | undefined, presented: string | undefined): boolean {
  if (!stored || typeof presented !== 'string' || presented.length === 0 || presented.length > 512) return false
  const a = Buffer.from(stored)
  const b = Buffer.from(hashClientSecret(presented))
  return a.length === b.length && timingSafeEqual(a, b)
}

export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}
