// Key-encryption keys. The master key (a file, BULWARK_MASTER_KEY_FILE, or a
// KMS hook that unseals it at start-up) never encrypts data itself: each KEK
// version is HKDF-SHA256(master, salt_v, info=`bulwark/vault/kek`), with a
// random salt per version stored in the keyring table. Rotating adds a
// version; data keys wrapped under older versions are rewrapped lazily.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { writeSecretFile, type Clock, type Database } from '@bulwark/core'
import { AeadError, open, seal, aadOf } from './aead.ts'
import { VaultErrors } from './errors.ts'

/** Auto-unseal: a KMS (cloud HSM, TPM, …) hands the 32-byte master key over at start-up. */
export type KmsHook = { loadMasterKey(): Promise<Uint8Array> }

export type Keyring = {
  currentVersion(): number
  /** Wraps a data key under the current KEK, bound to `context`. */
  wrap(key: Buffer, context: Buffer): { kekVersion: number; wrapped: Buffer }
  /** Throws AeadError when the wrapped key, its version or its context was changed. */
  unwrap(kekVersion: number, wrapped: Buffer, context: Buffer): Buffer
  /** Adds a KEK version and makes it current. */
  rotate(): number
}

const INFO = 'bulwark/vault/kek'
const CHECK = 'bulwark/vault/kek-check'

export async function loadMasterKey(options: { file: string; kms?: KmsHook; create: boolean; keyringEmpty: boolean }): Promise<Buffer> {
  if (options.kms) {
    const key = Buffer.from(await options.kms.loadMasterKey())
    if (key.length !== 32) throw VaultErrors.masterKey('kms hook returned a master key that is not 32 bytes')
    return key
  }
  if (!existsSync(options.file)) {
    if (!options.create || !options.keyringEmpty) throw VaultErrors.masterKey(`master key file \`${options.file}\` is missing`)
    writeSecretFile(options.file, randomBytes(32).toString('base64') + '\n')
  }
  const mode = statSync(options.file).mode & 0o777
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw VaultErrors.masterKey(`master key file \`${options.file}\` must be mode 0600, is ${mode.toString(8)}`)
  }
  const key = Buffer.from(readFileSync(options.file, 'utf8').trim(), 'base64')
  if (key.length !== 32) throw VaultErrors.masterKey(`master key file \`${options.file}\` does not hold 32 base64 bytes`)
  return key
}

export function isKeyringEmpty(db: Database): boolean {
  return (db.prepare('SELECT count(*) AS n FROM kek').get() as { n: number }).n === 0
}

function deriveKek(master: Buffer, salt: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', master, salt, INFO, 32))
}

function checkMac(kek: Buffer): Buffer {
  return createHmac('sha256', kek).update(CHECK).digest()
}

export function createKeyring(db: Database, master: Buffer, clock: Clock): Keyring {
  const keks = new Map<number, Buffer>()
  const rows = db.prepare('SELECT version, salt, check_mac FROM kek ORDER BY version').all() as Array<{ version: number; salt: Uint8Array; check_mac: Uint8Array }>
  for (const row of rows) {
    const kek = deriveKek(master, row.salt)
    const expected = Buffer.from(row.check_mac)
    const actual = checkMac(kek)
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      throw VaultErrors.masterKey(`the master key does not match kek version ${row.version} of this vault`)
    }
    keks.set(row.version, kek)
  }
  let current = rows.length > 0 ? rows[rows.length - 1]!.version : 0
  const insert = db.prepare('INSERT INTO kek (version, salt, check_mac, created_at) VALUES (?, ?, ?, ?)')

  function rotate(): number {
    const version = current + 1
    const salt = randomBytes(32)
    const kek = deriveKek(master, salt)
    insert.run(version, salt, checkMac(kek), clock.now())
    keks.set(version, kek)
    current = version
    return version
  }
  if (current === 0) rotate()

  return {
    currentVersion: () => current,
    rotate,
    wrap(key, context) {
      return { kekVersion: current, wrapped: seal(keks.get(current)!, key, aadOf('dek', current, context.toString('base64'))) }
    },
    unwrap(kekVersion, wrapped, context) {
      const kek = keks.get(kekVersion)
      if (!kek) throw new AeadError()
      return open(kek, wrapped, aadOf('dek', kekVersion, context.toString('base64')))
    },
  }
}
