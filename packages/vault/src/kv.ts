// KV v2 engine: versioned secrets with check-and-set, soft delete, undelete,
// destroy and per-path metadata. Every value is sealed under its own data key
// (AES-256-GCM) with AAD = (path, version), and the data key is wrapped by the
// current KEK with the same binding: a row moved to another path or version,
// or any changed byte, fails authentication instead of decrypting.
import { randomBytes } from 'node:crypto'
import type { Clock, Database } from '@bulwark/core'
import { AeadError, aadOf, open, seal } from './aead.ts'
import type { CommitQueue } from './commit-queue.ts'
import type { Keyring } from './keyring.ts'
import { VaultErrors } from './errors.ts'
import { createOpenedCache } from './opened-cache.ts'
import { prepareKvStatements, type MetaRow, type VersionRow } from './kv-statements.ts'

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

export function createKvEngine(deps: { db: Database; keyring: Keyring; queue: CommitQueue; clock: Clock; limits: KvLimits; onChange(path: string): void }) {
  const { db, keyring, queue, clock, limits } = deps
  const q = prepareKvStatements(db)
  const pendingRewrap = new Set<string>()
  const cache = createOpenedCache(limits.readCacheEntries)

  function meta(path: string): MetaRow | undefined {
    return q.meta.get(path) as MetaRow | undefined
  }
  function requireMeta(path: string): MetaRow {
    const row = meta(path)
    if (!row) throw notFound(path)
    return row
  }
  function requireVersion(path: string, version: number): VersionRow {
    const row = q.version.get(path, version) as VersionRow | undefined
    if (!row) throw VaultErrors.notFound(`version ${version} of secret \`${path}\` not found`)
    return row
  }

  function unwrapDek(path: string, version: number, row: VersionRow): Buffer {
    return keyring.unwrap(row.kek_version!, Buffer.from(row.wrapped_dek!), contextOf(path, version))
  }

  function lazyRewrap(path: string, version: number, oldKek: number): void {
    const id = `${version}\0${path}`
    if (pendingRewrap.has(id)) return
    pendingRewrap.add(id)
    queue.submit(() => rewrapRow(path, version, oldKek)).catch(() => undefined).finally(() => pendingRewrap.delete(id))
  }

  function rewrapRow(path: string, version: number, oldKek: number): boolean {
    const row = q.version.get(path, version) as VersionRow | undefined
    if (!row || row.kek_version !== oldKek || !row.wrapped_dek) return false
    const dek = unwrapDek(path, version, row)
    const { kekVersion, wrapped } = keyring.wrap(dek, contextOf(path, version))
    q.rewrap.run(kekVersion, wrapped, path, version, oldKek)
    return true
  }

  function touch(path: string, version: number, actor: string): void {
    q.bump.run(version, clock.now(), actor, path)
  }

  async function mutate<T>(path: string, fn: () => T): Promise<T> {
    const result = await queue.submit(fn)
    deps.onChange(path)
    return result
  }

  return {
    revision(path: string): number | undefined {
      return meta(path)?.revision
    },

    get(path: string, version?: number): SecretVersion {
      const row = q.read.get(version ?? null, path) as (VersionRow & { current_version: number; revision: number; created_at: number | null }) | undefined
      if (!row) throw notFound(path)
      const wanted = version ?? row.current_version
      if (row.version === null || row.version === undefined) throw VaultErrors.notFound(`version ${wanted} of secret \`${path}\` not found`)
      if (row.destroyed) throw VaultErrors.versionDestroyed(`version ${wanted} of secret \`${path}\` is destroyed`)
      if (row.deleted_at !== null) throw VaultErrors.versionDeleted(`version ${wanted} of secret \`${path}\` is deleted`)
      let data = cache.lookup(path, row)
      if (!data) {
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
      if (row.kek_version !== keyring.currentVersion()) lazyRewrap(path, wanted, row.kek_version!)
      return { path, version: wanted, data, createdAt: iso(row.created_at)!, createdBy: row.created_by, revision: row.revision }
    },

    async put(path: string, data: SecretData, options: { cas?: number; actor: string }): Promise<{ path: string; version: number; createdAt: string }> {
      const plaintext = Buffer.from(JSON.stringify(data), 'utf8')
      if (plaintext.length > limits.maxValueBytes) throw VaultErrors.valueTooLarge(`secret data is ${plaintext.length} bytes; the limit is ${limits.maxValueBytes}`)
      return mutate(path, () => {
        const now = clock.now()
        let m = meta(path)
        const current = m?.current_version ?? 0
        if (options.cas === undefined && m?.cas_required) throw VaultErrors.casRequired(`\`${path}\` requires check-and-set (\`cas\`)`)
        if (options.cas !== undefined && options.cas !== current) {
          throw VaultErrors.casMismatch(`check-and-set: \`${path}\` is at version ${current}, not ${options.cas}`)
        }
        if (!m) {
          q.insertMeta.run(path, now, options.actor, now, options.actor)
          m = meta(path)!
        }
        const version = current + 1
        const dek = randomBytes(32)
        const context = contextOf(path, version)
        const ciphertext = seal(dek, plaintext, context)
        const { kekVersion, wrapped } = keyring.wrap(dek, context)
        dek.fill(0)
        q.insertVersion.run(path, version, now, options.actor, kekVersion, wrapped, ciphertext)
        touch(path, version, options.actor)
        const keep = m.max_versions ?? limits.maxVersions
        if (version > keep) q.prune.run(path, version - keep)
        return { path, version, createdAt: iso(now)! }
      })
    },

    async softDelete(path: string, actor: string, versions?: number[]): Promise<number[]> {
      return mutate(path, () => {
        const m = requireMeta(path)
        const targets = versions ?? [m.current_version]
        for (const v of targets) {
          const row = requireVersion(path, v)
          if (!row.destroyed) q.softDelete.run(clock.now(), actor, path, v)
        }
        touch(path, 0, actor)
        return targets
      })
    },

    async undelete(path: string, versions: number[], actor: string): Promise<number[]> {
      return mutate(path, () => {
        requireMeta(path)
        for (const v of versions) {
          if (requireVersion(path, v).destroyed) throw VaultErrors.versionDestroyed(`version ${v} of secret \`${path}\` is destroyed`)
          q.undelete.run(path, v)
        }
        touch(path, 0, actor)
        return versions
      })
    },

    async destroy(path: string, versions: number[], actor: string): Promise<number[]> {
      return mutate(path, () => {
        requireMeta(path)
        for (const v of versions) {
          requireVersion(path, v)
          q.destroy.run(path, v)
        }
        touch(path, 0, actor)
        return versions
      })
    },

    async deleteAll(path: string): Promise<void> {
      await mutate(path, () => {
        requireMeta(path)
        q.deleteAllVersions.run(path)
        q.deleteMeta.run(path)
      })
    },

    async configure(path: string, settings: { maxVersions?: number; casRequired?: boolean }, actor: string): Promise<void> {
      await mutate(path, () => {
        requireMeta(path)
        q.configure.run(settings.maxVersions ?? null, settings.casRequired === undefined ? null : Number(settings.casRequired), clock.now(), actor, path)
      })
    },

    metadata(path: string): SecretMetadata {
      const m = requireMeta(path)
      const versions = (q.versions.all(path) as VersionRow[]).map((r) => ({
        version: r.version, createdAt: iso(r.created_at)!, createdBy: r.created_by,
        deletedAt: iso(r.deleted_at), deletedBy: r.deleted_by, destroyed: r.destroyed === 1,
      }))
      return {
        path, currentVersion: m.current_version, maxVersions: m.max_versions ?? limits.maxVersions, casRequired: m.cas_required === 1,
        revision: m.revision, createdAt: iso(m.created_at)!, createdBy: m.created_by, updatedAt: iso(m.updated_at)!, updatedBy: m.updated_by, versions,
      }
    },

    /** Direct children of `prefix` (which is `''` or ends in `/`): names, folders with a trailing `/`. */
    list(prefix: string): string[] {
      const rows = q.list.all(prefix, `${prefix}\u007f`) as Array<{ path: string }>
      const names = new Set<string>()
      for (const { path } of rows) {
        const rest = path.slice(prefix.length)
        const slash = rest.indexOf('/')
        names.add(slash === -1 ? rest : rest.slice(0, slash + 1))
      }
      return [...names]
    },

    /** Rewraps every data key still under an older KEK; rows that fail authentication are counted, not fixed. */
    async rewrapAll(): Promise<{ rewrapped: number; failed: number }> {
      let rewrapped = 0
      let failed = 0
      let after = 0
      for (;;) {
        const stale = q.stale.all(keyring.currentVersion(), after, 256) as Array<{ id: number; path: string; version: number; kek_version: number }>
        if (stale.length === 0) return { rewrapped, failed }
        after = stale[stale.length - 1]!.id
        const counts = await queue.submit(() => {
          let ok = 0
          let bad = 0
          for (const { path, version, kek_version } of stale) {
            try {
              if (rewrapRow(path, version, kek_version)) ok++
            } catch {
              bad++
            }
          }
          return { ok, bad }
        })
        rewrapped += counts.ok
        failed += counts.bad
      }
    },
  }
}
