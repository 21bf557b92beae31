// Key-encryption keys. The master key (a file, BULWARK_MASTER_KEY_FILE, or a
// KMS hook that unseals it at start-up) never encrypts data itself: each KEK
// version is HKDF-SHA256(master, salt_v, info=`bulwark/vault/kek`), with a
// random salt per version stored in the keyring table. Rotating adds a
// version; data keys wrapped under older versions are rewrapped lazily.
// Only salts and check MACs are stored; neither the master key nor a KEK is.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { writeSecretFile, type Clock, type SqlExecutor, type SqlStore } from '@bulwark/core'
import { AeadError, open, seal, aadOf } from './aead.ts'
import { VaultErrors } from './errors.ts'

/** Auto-unseal: a KMS (cloud HSM, TPM, …) hands the 32-byte master key over at start-up. */
export type KmsHook = { loadMasterKey(): Promise<Uint8Array> }

export type Keyring = {
  /** The newest KEK version this replica knows: new data keys are wrapped under it. */
  currentVersion(): number
  knows(version: number): boolean
  /** Learns KEK versions another replica added (call with the store or a transaction's handle). */
  refresh(db: SqlExecutor): Promise<void>
  /** Wraps a data key under the current KEK, bound to `context`. */
  wrap(key: Buffer, context: Buffer): { kekVersion: number; wrapped: Buffer }
  /** Throws AeadError when the wrapped key, its version or its context was changed. */
  unwrap(kekVersion: number, wrapped: Buffer, context: Buffer): Buffer
  /** Adds a KEK version (after the newest stored one) and makes it current. */
  rotate(): Promise<number>
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

export async function isKeyringEmpty(db: SqlExecutor): Promise<boolean> {
  return (await db.one<{ n: number }>('SELECT COUNT(*) AS n FROM kek'))!.n === 0
}

function deriveKek(master: Buffer, salt: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', master, salt, INFO, 32))
}

function checkMac(kek: Buffer): Buffer {
  return createHmac('sha256', kek).update(CHECK).digest()
}

type KekRow = { version: number; salt: Uint8Array; check_mac: Uint8Array }

/**
 * Opens the keyring, creating KEK version 1 on a first start. Replicas share
 * the kek table: each learns versions another replica added (`refresh`), and
 * starting together they create version 1 once (a table lock on PostgreSQL,
 * BEGIN IMMEDIATE on SQLite).
 */
export async function createKeyring(store: SqlStore, master: Buffer, clock: Clock): Promise<Keyring> {
  const keks = new Map<number, Buffer>()
  let current = 0

  /** Adds every stored version above the ones known; refuses a master key that does not match them. */
  async function refresh(db: SqlExecutor): Promise<void> {
    const rows = await db.all<KekRow>('SELECT version, salt, check_mac FROM kek WHERE version > ? ORDER BY version', [current])
    for (const row of rows) {
      const kek = deriveKek(master, row.salt)
      const expected = Buffer.from(row.check_mac)
      const actual = checkMac(kek)
      if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
        throw VaultErrors.masterKey(`the master key does not match kek version ${row.version} of this vault`)
      }
      keks.set(row.version, kek)
      current = Math.max(current, row.version)
    }
  }

  /** In a transaction: the next version after the newest stored one. */
  async function addVersion(tx: SqlExecutor): Promise<number> {
    if (tx.dialect === 'postgres') await tx.run('LOCK TABLE kek IN SHARE ROW EXCLUSIVE MODE')
    await refresh(tx)
    const version = current + 1
    const salt = randomBytes(32)
    const kek = deriveKek(master, salt)
    await tx.run('INSERT INTO kek (version, salt, check_mac, created_at) VALUES (?, ?, ?, ?)', [version, salt, checkMac(kek), clock.now()])
    keks.set(version, kek)
    current = version
    return version
  }

  await store.transaction(async (tx) => {
    if (tx.dialect === 'postgres') await tx.run('LOCK TABLE kek IN SHARE ROW EXCLUSIVE MODE')
    await refresh(tx)
    if (current === 0) await addVersion(tx)
  })

  return {
    currentVersion: () => current,
    knows: (version) => keks.has(version),
    refresh,
    rotate: () => store.transaction(addVersion),
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
