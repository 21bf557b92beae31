// Transit: encryption as a service. Named keys with versions; services send
// plaintext and get `bw:v<N>:<base64>` back, never the key. Each version's
// 32-byte root is wrapped by the KEK (bound to name + version); encryption,
// HMAC and blind-index keys are HKDF-SHA256 subkeys of it, so one key never
// serves two purposes. The blind index always uses version 1's subkey, so a
// rotation does not break lookups; deleting the key shreds everything.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Clock, Database } from '@bulwark/core'
import { AeadError, aadOf, open, seal } from './aead.ts'
import type { Keyring } from './keyring.ts'
import { VaultErrors } from './errors.ts'

type KeyRow = { name: string; latest_version: number; min_decryption_version: number; created_at: number; created_by: string; updated_at: number }
type VersionRow = { version: number; kek_version: number; wrapped_key: Uint8Array; created_at: number }
type Loaded = { row: KeyRow; enc: Map<number, Buffer>; mac: Map<number, Buffer>; index: Buffer }

export type TransitKeyInfo = {
  name: string; latestVersion: number; minDecryptionVersion: number
  createdAt: string; createdBy: string; updatedAt: string; versions: Array<{ version: number; createdAt: string }>
}

const CIPHERTEXT = /^bw:v([1-9][0-9]{0,8}):([A-Za-z0-9+/]+={0,2})$/
const subkey = (root: Buffer, purpose: string) => Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), `bulwark/vault/transit/${purpose}`, 32))
const keyContext = (name: string, version: number) => aadOf('bulwark/vault/transit-key', name, version)
const missing = (name: string) => VaultErrors.notFound(`transit key \`${name}\` not found`)

export type TransitEngine = ReturnType<typeof createTransitEngine>

export function createTransitEngine(deps: { db: Database; keyring: Keyring; clock: Clock }) {
  const { db, keyring, clock } = deps
  const q = {
    key: db.prepare('SELECT * FROM transit_keys WHERE name = ?'),
    versions: db.prepare('SELECT version, kek_version, wrapped_key, created_at FROM transit_key_versions WHERE name = ? ORDER BY version'),
    insertKey: db.prepare('INSERT INTO transit_keys (name, latest_version, min_decryption_version, created_at, created_by, updated_at) VALUES (?, 1, 1, ?, ?, ?)'),
    insertVersion: db.prepare('INSERT INTO transit_key_versions (name, version, kek_version, wrapped_key, created_at) VALUES (?, ?, ?, ?, ?)'),
    setLatest: db.prepare('UPDATE transit_keys SET latest_version = ?, updated_at = ? WHERE name = ?'),
    setMin: db.prepare('UPDATE transit_keys SET min_decryption_version = ?, updated_at = ? WHERE name = ?'),
    deleteKey: db.prepare('DELETE FROM transit_keys WHERE name = ?'),
    rewrap: db.prepare('UPDATE transit_key_versions SET kek_version = ?, wrapped_key = ? WHERE name = ? AND version = ?'),
    stale: db.prepare('SELECT DISTINCT name FROM transit_key_versions WHERE kek_version <> ?'),
    names: db.prepare('SELECT name FROM transit_keys ORDER BY name'),
    // Keys whose newest version is older than a cut-off (auto-rotation).
    dueForRotation: db.prepare('SELECT k.name FROM transit_keys k JOIN transit_key_versions v ON v.name = k.name AND v.version = k.latest_version WHERE v.created_at <= ? ORDER BY k.name'),
  }
  const cache = new Map<string, Loaded>()

  function addVersion(name: string, version: number): void {
    const { kekVersion, wrapped } = keyring.wrap(randomBytes(32), keyContext(name, version))
    q.insertVersion.run(name, version, kekVersion, wrapped, clock.now())
  }

  function load(name: string): Loaded {
    const cached = cache.get(name)
    if (cached) return cached
    const row = q.key.get(name) as KeyRow | undefined
    if (!row) throw missing(name)
    const enc = new Map<number, Buffer>()
    const mac = new Map<number, Buffer>()
    let index: Buffer | undefined
    for (const v of q.versions.all(name) as VersionRow[]) {
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
      root.fill(0)
    }
    if (!index || !enc.has(row.latest_version)) throw VaultErrors.integrity(`transit key \`${name}\` is missing versions`)
    const loaded = { row, enc, mac, index }
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

  function info(name: string): TransitKeyInfo {
    const row = q.key.get(name) as KeyRow | undefined
    if (!row) throw missing(name)
    return {
      name, latestVersion: row.latest_version, minDecryptionVersion: row.min_decryption_version,
      createdAt: new Date(row.created_at).toISOString(), createdBy: row.created_by, updatedAt: new Date(row.updated_at).toISOString(),
      versions: (q.versions.all(name) as VersionRow[]).map((v) => ({ version: v.version, createdAt: new Date(v.created_at).toISOString() })),
    }
  }

  return {
    info,
    exists: (name: string) => q.key.get(name) !== undefined,
    names: () => (q.names.all() as Array<{ name: string }>).map((r) => r.name),
    /** Creates the key unless it exists; `created` says which. */
    create(name: string, actor: string): { created: boolean; key: TransitKeyInfo } {
      if (q.key.get(name)) return { created: false, key: info(name) }
      const now = clock.now()
      db.transaction(() => {
        q.insertKey.run(name, now, actor, now)
        addVersion(name, 1)
      })
      return { created: true, key: info(name) }
    },
    rotate(name: string): TransitKeyInfo {
      const row = load(name).row
      db.transaction(() => {
        addVersion(name, row.latest_version + 1)
        q.setLatest.run(row.latest_version + 1, clock.now(), name)
      })
      cache.delete(name)
      return info(name)
    },
    /** Rotates every key whose newest version is at least `periodMs` old (older versions still decrypt); returns their names. */
    rotateDue(periodMs: number): string[] {
      const due = (q.dueForRotation.all(clock.now() - periodMs) as Array<{ name: string }>).map((r) => r.name)
      for (const name of due) this.rotate(name)
      return due
    },
    setMinDecryptionVersion(name: string, min: number): TransitKeyInfo {
      const row = load(name).row
      if (!Number.isSafeInteger(min) || min < 1 || min > row.latest_version) {
        throw VaultErrors.keyVersion(`minimum decryption version must be between 1 and ${row.latest_version}`)
      }
      q.setMin.run(min, clock.now(), name)
      cache.delete(name)
      return info(name)
    },
    /** Crypto-shredding: the key material is overwritten (secure_delete) and the WAL truncated. */
    delete(name: string): void {
      if (!q.key.get(name)) throw missing(name)
      db.transaction(() => q.deleteKey.run(name))
      cache.delete(name)
      db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
    },
    encrypt: (name: string, plaintext: Buffer, context?: Buffer) => encryptWith(name, load(name), plaintext, context),
    decrypt: (name: string, ciphertext: unknown, context?: Buffer) => decryptWith(name, load(name), ciphertext, context),
    rewrap(name: string, ciphertext: unknown, context?: Buffer): string {
      const key = load(name)
      const plaintext = decryptWith(name, key, ciphertext, context)
      try {
        return encryptWith(name, key, plaintext, context)
      } finally {
        plaintext.fill(0)
      }
    },
    hmac(name: string, input: Buffer): string {
      const key = load(name)
      const version = key.row.latest_version
      return `bw:v${version}:${createHmac('sha256', key.mac.get(version)!).update(input).digest('base64')}`
    },
    verifyHmac(name: string, input: Buffer, hmac: unknown): boolean {
      const key = load(name)
      const { version, body } = parse(name, hmac, key, 'hmac')
      const expected = createHmac('sha256', key.mac.get(version)!).update(input).digest()
      return body.length === expected.length && timingSafeEqual(body, expected)
    },
    blindIndex(name: string, input: Buffer): string {
      return createHmac('sha256', load(name).index).update(input).digest('base64url')
    },
    /** Rewraps every transit key version still under an older KEK; a key that fails authentication is named, not fixed. */
    rewrapKeys(): { rewrapped: number; failedKeys: string[] } {
      let rewrapped = 0
      const failedKeys: string[] = []
      const current = keyring.currentVersion()
      for (const { name } of q.stale.all(current) as Array<{ name: string }>) {
        try {
          rewrapped += db.transaction(() => {
            let n = 0
            for (const v of q.versions.all(name) as VersionRow[]) {
              if (v.kek_version === current) continue
              const root = keyring.unwrap(v.kek_version, Buffer.from(v.wrapped_key), keyContext(name, v.version))
              const { kekVersion, wrapped } = keyring.wrap(root, keyContext(name, v.version))
              root.fill(0)
              q.rewrap.run(kekVersion, wrapped, name, v.version)
              n++
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
