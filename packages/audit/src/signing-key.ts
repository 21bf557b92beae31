// The tree-head signing key: Ed25519, generated on first start in the
// component's own directory (0600). The public half is written next to it so
// the CLI on the same machine can check exports without asking the service.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { writeFileAtomic, writeSecretFile } from '@bulwark/core'

export const SIGNING_KEY_FILE = 'tree-head.key'
export const PUBLIC_KEY_FILE = 'tree-head.pub.pem'

export type SigningKey = { privateKey: KeyObject; publicKey: KeyObject; publicKeyPem: string }

export function loadOrCreateSigningKey(dir: string): SigningKey {
  const keyPath = join(dir, SIGNING_KEY_FILE)
  let privateKey: KeyObject
  if (existsSync(keyPath)) {
    privateKey = createPrivateKey(readFileSync(keyPath, 'utf8'))
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError(`${keyPath}: not an Ed25519 key`)
  } else {
    privateKey = generateKeyPairSync('ed25519').privateKey
    writeSecretFile(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)
  }
  const publicKey = createPublicKey(privateKey)
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }) as string
  const pubPath = join(dir, PUBLIC_KEY_FILE)
  if (!existsSync(pubPath) || readFileSync(pubPath, 'utf8') !== publicKeyPem) writeFileAtomic(pubPath, publicKeyPem, 0o644)
  return { privateKey, publicKey, publicKeyPem }
}
