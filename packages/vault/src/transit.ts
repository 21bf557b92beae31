// Transit: encryption as a service. Named keys with versions; services send
// plaintext and get `bw:v<N>:<base64>` back, never the key. Each version's
// 32-byte root is wrapped by the KEK (bound to name + version); encryption,
// HMAC and blind-index keys are HKDF-SHA256 subkeys of it, so one key never
// serves two purposes. The blind index always uses version 1's subkey, so a
// rotation does not break lookups; deleting the key shreds everything.
//
// Replicas: unwrapped keys are cached per process, but every use first reads
// the key's row and its newest version (one indexed lookup) and reloads when
// they changed, so a rotation, a new minimum version or a deletion made at
// another replica applies at once. Rotation increments the stored version in
// one UPDATE, so two replicas rotating at once add two versions, never the
// same one twice.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { isUniqueViolation, type Clock, type SqlExecutor, type SqlStore } from '@bulwark/core'
import { AeadError, aadOf, open, seal } from './aead.ts'
import type { Keyring } from './keyring.ts'
import { VaultErrors } from './errors.ts'

type KeyRow = { name: string; latest_version: number; min_decryption_version: number; created_at: number; created_by: string; updated_at: number }
type VersionRow = { version: number; kek_version: number; wrapped_key: Uint8Array; created_at: number }
type Loaded = { row: KeyRow; stamp: Buffer; enc: Map<number, Buffer>; mac: Map<number, Buffer>; index: Buffer }
/** What a cached key is checked against on every use: the key row and its newest version's wrapped bytes. */
type StampRow = { latest_version: number; min_decryption_version: number; created_at: number; wrapped_key: Uint8Array }

export type TransitKeyInfo = {
  name: string; latestVersion: number; minDecryptionVersion: number
  createdAt: string; createdBy: string; updatedAt: string; versions: Array<{ version: number; createdAt: string }>
}

const CIPHERTEXT = /^bw:v([1-9][0-9]{0,8}):([A-Za-z0-9+/]+={0,2})$/
const subkey = (root: Buffer, purpose: string) => Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), `bulwark/vault/transit/${purpose}`, 32))
const keyContext = (name: string, version: number) => aadOf('bulwark/vault/transit-key', name, version)
const missing = (name: string) => VaultErrors.notFound(`transit key \`${name}\` not found`)

export type TransitEngine = ReturnType<typeof createTransitEngine>

export function createTransitEngine(deps: { db: SqlStore; keyring: Keyring; clock: Clock }) {
  const { db, keyring, clock } = deps
  const q = {
    key: 'SELECT * FROM transit_keys WHERE name = ?',
    stamp: `SELECT k.latest_version, k.min_decryption_version, k.created_at, v.wrapped_key FROM transit_keys k
      JOIN transit_key_versions v ON v.name = k.name AND v.version = k.latest_version WHERE k.name = ?`,
    versions: 'SELECT version, kek_version, wrapped_key, created_at FROM transit_key_versions WHERE name = ? ORDER BY version',
    insertKey: 'INSERT INTO transit_keys (name, latest_version, min_decryption_version, created_at, created_by, updated_at) VALUES (?, 1, 1, ?, ?, ?)',
    insertVersion: 'INSERT INTO transit_key_versions (name, version, kek_version, wrapped_key, created_at) VALUES (?, ?, ?, ?, ?)',
    /** Rotation in one statement: the row lock makes concurrent rotations take turns. */
    bumpLatest: 'UPDATE transit_keys SET latest_version = latest_version + 1, updated_at = ? WHERE name = ? RETURNING latest_version',
    bumpLatestIf: 'UPDATE transit_keys SET latest_version = latest_version + 1, updated_at = ? WHERE name = ? AND latest_version = ? RETURNING latest_version',
    setMin: 'UPDATE transit_keys SET min_decryption_version = ?, updated_at = ? WHERE name = ? AND latest_version >= ?',
    deleteKey: 'DELETE FROM transit_keys WHERE name = ?',
    rewrap: 'UPDATE transit_key_versions SET kek_version = ?, wrapped_key = ? WHERE name = ? AND version = ? AND kek_version = ?',
    lockKey: `SELECT name FROM transit_keys WHERE name = ?${db.dialect === 'postgres' ? ' FOR UPDATE' : ''}`,
    stale: 'SELECT DISTINCT name FROM transit_key_versions WHERE kek_version < ? ORDER BY name',
    names: 'SELECT name FROM transit_keys ORDER BY name',
    // Keys whose newest version is older than a cut-off (auto-rotation).
    dueForRotation: 'SELECT k.name, k.latest_version FROM transit_keys k JOIN transit_key_versions v ON v.name = k.name AND v.version = k.latest_version WHERE v.created_at <= ? ORDER BY k.name',
  }
  const cache = new Map<string, Loaded>()

  async function addVersion(tx: SqlExecutor, name: string, version: number): Promise<void> {
    const { kekVersion, wrapped } = keyring.wrap(randomBytes(32), keyContext(name, version))
    await tx.run(q.insertVersion, [name, version, kekVersion, wrapped, clock.now()])
  }

  const sameStamp = (loaded: Loaded, stamp: StampRow) =>
    loaded.row.latest_version === stamp.latest_version && loaded.row.min_decryption_version === stamp.min_decryption_version &&
    loaded.row.created_at === stamp.created_at && loaded.stamp.equals(stamp.wrapped_key)

  async function load(name: string): Promise<Loaded> {
    const stamp = await db.one<StampRow>(q.stamp, [name])
    if (!stamp) {
      cache.delete(name)
      throw missing(name)
    }
    const cached = cache.get(name)
    if (cached && sameStamp(cached, stamp)) return cached
    // Read the key and its versions together: a rotation elsewhere lands wholly before or after.
    const { row, versions } = await db.transaction(async (tx) => ({
      row: await tx.one<KeyRow>(q.key, [name]),
      versions: await tx.all<VersionRow>(q.versions, [name]),
    }))
    if (!row) throw missing(name)
    if (versions.some((v) => !keyring.knows(v.kek_version))) await keyring.refresh(db)
    const enc = new Map<number, Buffer>()
    const mac = new Map<number, Buffer>()
    let index: Buffer | undefined
    let latest: Buffer | undefined
    for (const v of versions) {
      let root: Buffer
      try {
        root = keyring.unwrap(v.kek_version, Buffer.from(v.wrapped_key), keyContext(name, v.version))
      } catch (error) {
        if (error instanceof AeadError) throw VaultErrors.integrity(`version ${v.version} of transit key \`${name}\` failed authentication`)
        throw error
      }
      enc.set(v.version, subkey(root, 'encrypt'))
      mac.set(v.version, subkey(root, 'hmac'))
      if (v.version === 1) index = subkey(root, 'blind-index')
      if (v.version === row.latest_version) latest = Buffer.from(v.wrapped_key)
      root.fill(0)
    }
    if (!index || !latest || !enc.has(row.latest_version)) throw VaultErrors.integrity(`transit key \`${name}\` is missing versions`)
    const loaded = { row, stamp: latest, enc, mac, index }
    cache.set(name, loaded)
    return loaded
  }

  function parse(name: string, text: unknown, key: Loaded, purpose: 'ciphertext' | 'hmac'): { version: number; body: Buffer } {
    const match = typeof text === 'string' ? CIPHERTEXT.exec(text) : null
    if (!match) throw VaultErrors.ciphertextInvalid(`${purpose} must look like \`bw:v<N>:<base64>\``)
    const version = Number(match[1])
    if (version > key.row.latest_version) throw VaultErrors.keyVersion(`transit key \`${name}\` has no version ${version}`)
    if (purpose === 'ciphertext' && version < key.row.min_decryption_version) {
      throw VaultErrors.keyVersion(`version ${version} of transit key \`${name}\` is below its minimum decryption version ${key.row.min_decryption_version}`)
    }
    return { version, body: Buffer.from(match[2]!, 'base64') }
  }

  const aad = (name: string, version: number, context?: Buffer) => aadOf('bulwark/vault/transit', name, version, context ? context.toString('base64') : '')

  function encryptWith(name: string, key: Loaded, plaintext: Buffer, context?: Buffer): string {
    const version = key.row.latest_version
    return `bw:v${version}:${seal(key.enc.get(version)!, plaintext, aad(name, version, context)).toString('base64')}`
  }

  function decryptWith(name: string, key: Loaded, ciphertext: unknown, context?: Buffer): Buffer {
    const { version, body } = parse(name, ciphertext, key, 'ciphertext')
    try {
      return open(key.enc.get(version)!, body, aad(name, version, context))
    } catch (error) {
      if (error instanceof AeadError) throw VaultErrors.decryptFailed(`ciphertext failed authentication under transit key \`${name}\``)
      throw error
    }
  }

  async function info(name: string): Promise<TransitKeyInfo> {
    const { row, versions } = await db.transaction(async (tx) => ({
      row: await tx.one<KeyRow>(q.key, [name]),
      versions: await tx.all<VersionRow>(q.versions, [name]),
    }))
    if (!row) throw missing(name)
    return {
      name, latestVersion: row.latest_version, minDecryptionVersion: row.min_decryption_version,
      createdAt: new Date(row.created_at).toISOString(), createdBy: row.created_by, updatedAt: new Date(row.updated_at).toISOString(),
      versions: versions.map((v) => ({ version: v.version, createdAt: new Date(v.created_at).toISOString() })),
    }
  }

  /** Adds a version; with `ifLatest`, only when the key is still at that version (else undefined). */
  async function rotate(name: string, ifLatest?: number): Promise<number | undefined> {
    const version = await db.transaction(async (tx) => {
      const bumped = ifLatest === undefined
        ? await tx.one<{ latest_version: number }>(q.bumpLatest, [clock.now(), name])
        : await tx.one<{ latest_version: number }>(q.bumpLatestIf, [clock.now(), name, ifLatest])
      if (!bumped) return undefined
      await addVersion(tx, name, bumped.latest_version)
      return bumped.latest_version
    })
    cache.delete(name)
    return version
  }

  return {
    info,
    exists: async (name: string) => (await db.one(q.key, [name])) !== undefined,
    names: async () => (await db.all<{ name: string }>(q.names)).map((r) => r.name),
    /** Creates the key unless it exists; `created` says which (one replica creates it when two try at once). */
    async create(name: string, actor: string): Promise<{ created: boolean; key: TransitKeyInfo }> {
      if (await db.one(q.key, [name])) return { created: false, key: await info(name) }
      const now = clock.now()
      try {
        await db.transaction(async (tx) => {
          await tx.run(q.insertKey, [name, now, actor, now])
          await addVersion(tx, name, 1)
        })
      } catch (error) {
        if (!isUniqueViolation(error)) throw error
        return { created: false, key: await info(name) }
      }
      return { created: true, key: await info(name) }
    },
    async rotate(name: string): Promise<TransitKeyInfo> {
      if ((await rotate(name)) === undefined) throw missing(name)
      return info(name)
    },
    /**
     * Rotates every key whose newest version is at least `periodMs` old (older versions still decrypt); returns their names.
     * Replicas running this at once rotate each due key once: only the one still at the version it saw adds the next.
     */
    async rotateDue(periodMs: number): Promise<string[]> {
      const due = await db.all<{ name: string; latest_version: number }>(q.dueForRotation, [clock.now() - periodMs])
      const rotated: string[] = []
      for (const { name, latest_version } of due) {
        if ((await rotate(name, latest_version)) !== undefined) rotated.push(name)
      }
      return rotated
    },
    async setMinDecryptionVersion(name: string, min: number): Promise<TransitKeyInfo> {
      const row = (await load(name)).row
      if (!Number.isSafeInteger(min) || min < 1 || min > row.latest_version) {
        throw VaultErrors.keyVersion(`minimum decryption version must be between 1 and ${row.latest_version}`)
      }
      await db.run(q.setMin, [min, clock.now(), name, min])
      cache.delete(name)
      return info(name)
    },
    /**
     * Crypto-shredding: the key material is deleted. SQLite overwrites it (secure_delete) and
     * truncates the WAL; PostgreSQL keeps dead rows until VACUUM (run here) and in WAL and backups,
     * where it stays sealed under a KEK derived from the master key, which is never in the database.
     */
    async delete(name: string): Promise<void> {
      const { changes } = await db.run(q.deleteKey, [name])
      cache.delete(name)
      if (changes === 0) throw missing(name)
      if (db.dialect === 'sqlite') await db.run('PRAGMA wal_checkpoint(TRUNCATE)')
      else await db.run('VACUUM transit_key_versions').catch(() => undefined)
    },
    encrypt: async (name: string, plaintext: Buffer, context?: Buffer) => encryptWith(name, await load(name), plaintext, context),
    decrypt: async (name: string, ciphertext: unknown, context?: Buffer) => decryptWith(name, await load(name), ciphertext, context),
    async rewrap(name: string, ciphertext: unknown, context?: Buffer): Promise<string> {
      const key = await load(name)
      const plaintext = decryptWith(name, key, ciphertext, context)
      try {
        return encryptWith(name, key, plaintext, context)
      } finally {
        plaintext.fill(0)
      }
    },
    /** The key once, for a batch of items. */
    key: load,
    encryptWith,
    decryptWith,
    async hmac(name: string, input: Buffer): Promise<string> {
      const key = await load(name)
      const version = key.row.latest_version
      return `bw:v${version}:${createHmac('sha256', key.mac.get(version)!).update(input).digest('base64')}`
    },
    async verifyHmac(name: string, input: Buffer, hmac: unknown): Promise<boolean> {
      const key = await load(name)
      const { version, body } = parse(name, hmac, key, 'hmac')
      const expected = createHmac('sha256', key.mac.get(version)!).update(input).digest()
      return body.length === expected.length && timingSafeEqual(body, expected)
    },
    async blindIndex(name: string, input: Buffer): Promise<string> {
      return createHmac('sha256', (await load(name)).index).update(input).digest('base64url')
    },
    /** Rewraps every transit key version still under an older KEK; a key that fails authentication is named, not fixed. */
    async rewrapKeys(): Promise<{ rewrapped: number; failedKeys: string[] }> {
      await keyring.refresh(db)
      let rewrapped = 0
      const failedKeys: string[] = []
      const current = keyring.currentVersion()
      for (const { name } of await db.all<{ name: string }>(q.stale, [current])) {
        try {
          rewrapped += await db.transaction(async (tx) => {
            if (!(await tx.one(q.lockKey, [name]))) return 0
            let n = 0
            for (const v of await tx.all<VersionRow>(q.versions, [name])) {
              if (v.kek_version >= current) continue
              const root = keyring.unwrap(v.kek_version, Buffer.from(v.wrapped_key), keyContext(name, v.version))
              const { kekVersion, wrapped } = keyring.wrap(root, keyContext(name, v.version))
              root.fill(0)
              n += (await tx.run(q.rewrap, [kekVersion, wrapped, name, v.version, v.kek_version])).changes
            }
            return n
          })
        } catch (error) {
          if (!(error instanceof AeadError)) throw error
          failedKeys.push(name)
        }
      }
      return { rewrapped, failedKeys }
    },
  }
}
