// KV v2 engine: versioned secrets with check-and-set, soft delete, undelete,
// destroy and per-path metadata. Every value is sealed under its own data key
// (AES-256-GCM) with AAD = (path, version), and the data key is wrapped by the
// current KEK with the same binding: a row moved to another path or version,
// or any changed byte, fails authentication instead of decrypting.
//
// Replicas: every write locks its path's metadata row in the same
// transaction that reads the current version, so check-and-set compares with
// what is committed, across every replica on the database.
import { randomBytes } from 'node:crypto'
import type { Clock, SqlExecutor, SqlStore } from '@bulwark/core'
import { AeadError, aadOf, open, seal } from './aead.ts'
import type { CommitQueue } from './commit-queue.ts'
import type { Keyring } from './keyring.ts'
import { VaultErrors } from './errors.ts'
import { createOpenedCache } from './opened-cache.ts'
import { kvStatements, type MetaRow, type VersionRow } from './kv-statements.ts'

export type KvLimits = { maxVersions: number; maxValueBytes: number; readCacheEntries: number }

export type SecretData = Record<string, unknown>
export type SecretVersion = { path: string; version: number; data: SecretData; createdAt: string; createdBy: string; revision: number }
export type VersionInfo = { version: number; createdAt: string; createdBy: string; deletedAt: string | null; deletedBy: string | null; destroyed: boolean }
export type SecretMetadata = {
  path: string; currentVersion: number; maxVersions: number; casRequired: boolean; revision: number
  createdAt: string; createdBy: string; updatedAt: string; updatedBy: string; versions: VersionInfo[]
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())
const contextOf = (path: string, version: number) => aadOf('bulwark/vault/kv', path, version)
const notFound = (path: string) => VaultErrors.notFound(`secret \`${path}\` not found`)

export type KvEngine = ReturnType<typeof createKvEngine>

export function createKvEngine(deps: { db: SqlStore; keyring: Keyring; queue: CommitQueue; clock: Clock; limits: KvLimits; onChange(path: string): void }) {
  const { db, keyring, queue, clock, limits } = deps
  const q = kvStatements(db.dialect)
  const pendingRewrap = new Set<string>()
  const cache = createOpenedCache(limits.readCacheEntries)
  // A batch wraps new data keys under the newest KEK any replica has added.
  queue.beforeBatch((tx) => keyring.refresh(tx))

  /** In a write: the path's metadata, locked until commit. */
  async function lockMeta(tx: SqlExecutor, path: string): Promise<MetaRow> {
    const row = await tx.one<MetaRow>(q.lockMeta, [path])
    if (!row) throw notFound(path)
    return row
  }
  async function requireVersion(tx: SqlExecutor, path: string, version: number): Promise<VersionRow> {
    const row = await tx.one<VersionRow>(q.version, [path, version])
    if (!row) throw VaultErrors.notFound(`version ${version} of secret \`${path}\` not found`)
    return row
  }

  /** A row wrapped under a KEK version this replica has not seen yet: learn it first. */
  async function known(kekVersion: number | null): Promise<void> {
    if (kekVersion !== null && !keyring.knows(kekVersion)) await keyring.refresh(db)
  }

  function unwrapDek(path: string, version: number, row: VersionRow): Buffer {
    return keyring.unwrap(row.kek_version!, Buffer.from(row.wrapped_dek!), contextOf(path, version))
  }

  function lazyRewrap(path: string, version: number, oldKek: number): void {
    const id = `${version}\0${path}`
    if (pendingRewrap.has(id)) return
    pendingRewrap.add(id)
    queue.submit(path, (tx) => rewrapRow(tx, path, version, oldKek)).catch(() => undefined).finally(() => pendingRewrap.delete(id))
  }

  async function rewrapRow(tx: SqlExecutor, path: string, version: number, oldKek: number): Promise<boolean> {
    if (!(await tx.one(q.lockMeta, [path]))) return false
    const row = await tx.one<VersionRow>(q.version, [path, version])
    // Only forward: a replica that knows an older current KEK never rewraps back.
    if (!row || row.kek_version !== oldKek || !row.wrapped_dek || oldKek >= keyring.currentVersion()) return false
    const dek = unwrapDek(path, version, row)
    const { kekVersion, wrapped } = keyring.wrap(dek, contextOf(path, version))
    dek.fill(0)
    await tx.run(q.rewrap, [kekVersion, wrapped, path, version, oldKek])
    return true
  }

  function touch(tx: SqlExecutor, path: string, version: number, actor: string) {
    return tx.run(q.bump, [version, clock.now(), actor, path])
  }

  async function mutate<T>(path: string, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const result = await queue.submit(path, fn)
    deps.onChange(path)
    return result
  }

  return {
    async revision(path: string): Promise<number | undefined> {
      return (await db.one<{ revision: number }>(q.revision, [path]))?.revision
    },

    async get(path: string, version?: number): Promise<SecretVersion> {
      const row = await db.one<VersionRow & { current_version: number; revision: number; created_at: number | null }>(q.read, [version ?? null, path])
      if (!row) throw notFound(path)
      const wanted = version ?? row.current_version
      if (row.version === null || row.version === undefined) throw VaultErrors.notFound(`version ${wanted} of secret \`${path}\` not found`)
      if (row.destroyed) throw VaultErrors.versionDestroyed(`version ${wanted} of secret \`${path}\` is destroyed`)
      if (row.deleted_at !== null) throw VaultErrors.versionDeleted(`version ${wanted} of secret \`${path}\` is deleted`)
      let data = cache.lookup(path, row)
      if (!data) {
        await known(row.kek_version)
        try {
          const dek = unwrapDek(path, wanted, row)
          data = Object.freeze(JSON.parse(open(dek, Buffer.from(row.ciphertext!), contextOf(path, wanted)).toString('utf8')) as SecretData)
          dek.fill(0)
        } catch (error) {
          if (error instanceof AeadError) throw VaultErrors.integrity(`version ${wanted} of \`${path}\` failed authentication`)
          throw error
        }
        cache.store(path, row, data)
      }
      if (row.kek_version! < keyring.currentVersion()) lazyRewrap(path, wanted, row.kek_version!)
      return { path, version: wanted, data, createdAt: iso(row.created_at)!, createdBy: row.created_by, revision: row.revision }
    },

    async put(path: string, data: SecretData, options: { cas?: number; actor: string }): Promise<{ path: string; version: number; createdAt: string }> {
      const plaintext = Buffer.from(JSON.stringify(data), 'utf8')
      if (plaintext.length > limits.maxValueBytes) throw VaultErrors.valueTooLarge(`secret data is ${plaintext.length} bytes; the limit is ${limits.maxValueBytes}`)
      return mutate(path, async (tx) => {
        const now = clock.now()
        // Create-if-missing, then lock: the check below sees the committed version, whichever replica wrote it.
        await tx.run(q.insertMeta, [path, now, options.actor, now, options.actor])
        const m = await lockMeta(tx, path)
        const current = m.current_version
        if (options.cas === undefined && m.cas_required) throw VaultErrors.casRequired(`\`${path}\` requires check-and-set (\`cas\`)`)
        if (options.cas !== undefined && options.cas !== current) {
          throw VaultErrors.casMismatch(`check-and-set: \`${path}\` is at version ${current}, not ${options.cas}`)
        }
        const version = current + 1
        const dek = randomBytes(32)
        const context = contextOf(path, version)
        const ciphertext = seal(dek, plaintext, context)
        const { kekVersion, wrapped } = keyring.wrap(dek, context)
        dek.fill(0)
        await tx.run(q.insertVersion, [path, version, now, options.actor, kekVersion, wrapped, ciphertext])
        await touch(tx, path, version, options.actor)
        const keep = m.max_versions ?? limits.maxVersions
        if (version > keep) await tx.run(q.prune, [path, version - keep])
        return { path, version, createdAt: iso(now)! }
      })
    },

    async softDelete(path: string, actor: string, versions?: number[]): Promise<number[]> {
      return mutate(path, async (tx) => {
        const m = await lockMeta(tx, path)
        const targets = versions ?? [m.current_version]
        for (const v of targets) {
          const row = await requireVersion(tx, path, v)
          if (!row.destroyed) await tx.run(q.softDelete, [clock.now(), actor, path, v])
        }
        await touch(tx, path, 0, actor)
        return targets
      })
    },

    async undelete(path: string, versions: number[], actor: string): Promise<number[]> {
      return mutate(path, async (tx) => {
        await lockMeta(tx, path)
        for (const v of versions) {
          if ((await requireVersion(tx, path, v)).destroyed) throw VaultErrors.versionDestroyed(`version ${v} of secret \`${path}\` is destroyed`)
          await tx.run(q.undelete, [path, v])
        }
        await touch(tx, path, 0, actor)
        return versions
      })
    },

    async destroy(path: string, versions: number[], actor: string): Promise<number[]> {
      return mutate(path, async (tx) => {
        await lockMeta(tx, path)
        for (const v of versions) {
          await requireVersion(tx, path, v)
          await tx.run(q.destroy, [path, v])
        }
        await touch(tx, path, 0, actor)
        return versions
      })
    },

    async deleteAll(path: string): Promise<void> {
      await mutate(path, async (tx) => {
        await lockMeta(tx, path)
        await tx.run(q.deleteAllVersions, [path])
        await tx.run(q.deleteMeta, [path])
      })
    },

    async configure(path: string, settings: { maxVersions?: number; casRequired?: boolean }, actor: string): Promise<void> {
      await mutate(path, async (tx) => {
        await lockMeta(tx, path)
        await tx.run(q.configure, [settings.maxVersions ?? null, settings.casRequired === undefined ? null : Number(settings.casRequired), clock.now(), actor, path])
      })
    },

    async metadata(path: string): Promise<SecretMetadata> {
      // One snapshot of the metadata and its versions (a replica may write in between otherwise).
      return db.transaction(async (tx) => {
        const m = await tx.one<MetaRow>(q.meta, [path])
        if (!m) throw notFound(path)
        const versions = (await tx.all<VersionRow>(q.versions, [path])).map((r) => ({
          version: r.version, createdAt: iso(r.created_at)!, createdBy: r.created_by,
          deletedAt: iso(r.deleted_at), deletedBy: r.deleted_by, destroyed: r.destroyed === 1,
        }))
        return {
          path, currentVersion: m.current_version, maxVersions: m.max_versions ?? limits.maxVersions, casRequired: m.cas_required === 1,
          revision: m.revision, createdAt: iso(m.created_at)!, createdBy: m.created_by, updatedAt: iso(m.updated_at)!, updatedBy: m.updated_by, versions,
        }
      })
    },

    /** Direct children of `prefix` (which is `''` or ends in `/`): names, folders with a trailing `/`. */
    async list(prefix: string): Promise<string[]> {
      const rows = await db.all<{ path: string }>(q.list, [prefix, `${prefix}\u007f`])
      const names = new Set<string>()
      for (const { path } of rows) {
        const rest = path.slice(prefix.length)
        const slash = rest.indexOf('/')
        names.add(slash === -1 ? rest : rest.slice(0, slash + 1))
      }
      return [...names]
    },

    /** Secret versions whose data key is still under an older KEK than the newest. */
    async staleCount(): Promise<number> {
      await keyring.refresh(db)
      return (await db.one<{ n: number }>(q.staleCount, [keyring.currentVersion()]))!.n
    },

    /** Rewraps every data key still under an older KEK; rows that fail authentication are counted, not fixed. */
    async rewrapAll(): Promise<{ rewrapped: number; failed: number }> {
      await keyring.refresh(db)
      let rewrapped = 0
      let failed = 0
      let after = { path: '', version: 0 }
      for (;;) {
        const stale = await db.all<{ path: string; version: number; kek_version: number }>(q.stale, [keyring.currentVersion(), after.path, after.path, after.version, 256])
        if (stale.length === 0) return { rewrapped, failed }
        after = stale[stale.length - 1]!
        // One write per row: each locks only its own path, in path order like every batch.
        const outcomes = await Promise.all(stale.map(({ path, version, kek_version }) =>
          queue.submit(path, async (tx) => rewrapRow(tx, path, version, kek_version)).then((ok) => (ok ? 1 : 0), () => -1)))
        for (const outcome of outcomes) {
          if (outcome === 1) rewrapped++
          else if (outcome === -1) failed++
        }
      }
    },
  }
}
