// Profile data in and out of the vault. The plaintext exists only in this
// process's memory while a request is served; what is stored is
// `profile_ciphertext` (one vault transit ciphertext under the user's own key,
// bound to the user id by the encryption context) and the email's blind index.
import type { Clock } from '@bulwark/core'
import { UsersErrors } from './errors.ts'
import type { ProfileRow, UsersStore } from './store.ts'
import type { Transit } from './transit.ts'

export type Address = { line1?: string; line2?: string; city?: string; region?: string; postalCode?: string; country?: string }
export type ProfileData = { displayName: string | null; email: string | null; address: string | Address | null }
export type Profile = ProfileData & { id: string; createdAt: string; updatedAt: string }

/** Saves that lose the race this many times in a row give up with a 409. */
const SAVE_ATTEMPTS = 5
const EMPTY: ProfileData = { displayName: null, email: null, address: null }
const context = (id: string) => `users-profile:${id}`

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase()
}

export type Profiles = {
  /** The caller's profile, created (with its key) on first use. Throws 410 once erased. */
  load(id: string): Promise<Profile>
  decrypt(row: ProfileRow): Promise<Profile>
  save(id: string, changes: Partial<ProfileData>): Promise<Profile>
  emailIndex(email: string): Promise<string>
  /** Crypto-shredding: destroys the user's key, then wipes the row. */
  erase(id: string): Promise<void>
}

export function createProfiles(deps: { store: UsersStore; transit: Transit; clock: Clock; emailIndexKey: string }): Profiles {
  const { store, transit } = deps
  let indexKeyReady: Promise<void> | undefined
  const ensureIndexKey = () => (indexKeyReady ??= transit.createKey(deps.emailIndexKey).catch((e) => { indexKeyReady = undefined; throw e }))

  async function decrypt(row: ProfileRow): Promise<Profile> {
    if (row.erased_at) throw UsersErrors.erased()
    const data = row.profile_ciphertext
      ? JSON.parse(await transit.decrypt(row.key_name, row.profile_ciphertext, context(row.id))) as ProfileData
      : EMPTY
    return { id: row.id, ...EMPTY, ...data, createdAt: row.created_at, updatedAt: row.updated_at }
  }

  const knownKeys = new Set<string>()
  async function ensure(id: string): Promise<ProfileRow> {
    const row = await store.get(id) ?? await store.create(id, deps.clock.now())
    if (!row.erased_at && !knownKeys.has(row.key_name)) {
      await transit.createKey(row.key_name) // idempotent
      knownKeys.add(row.key_name)
    }
    return row
  }

  const emailIndex = async (email: string) => {
    await ensureIndexKey()
    return await transit.blindIndex(deps.emailIndexKey, normalizeEmail(email))
  }

  return {
    decrypt,
    emailIndex,
    async load(id) { return await decrypt(await ensure(id)) },
    async save(id, changes) {
      // Read, merge, encrypt, then write only if nobody wrote in between (this replica or another); else start over.
      for (let attempt = 0; attempt < SAVE_ATTEMPTS; attempt++) {
        const row = await ensure(id)
        const current = await decrypt(row)
        const next: ProfileData = {
          displayName: changes.displayName !== undefined ? changes.displayName : current.displayName,
          email: changes.email !== undefined ? changes.email : current.email,
          address: changes.address !== undefined ? changes.address : current.address,
        }
        const ciphertext = await transit.encrypt(row.key_name, JSON.stringify(next), context(id))
        const index = next.email ? await emailIndex(next.email) : null
        if (await store.update(id, ciphertext, index, deps.clock.now(), row.profile_ciphertext)) return await decrypt((await store.get(id))!)
      }
      throw UsersErrors.conflict()
    },
    async erase(id) {
      const row = await ensure(id)
      if (row.erased_at) return
      await transit.deleteKey(row.key_name)
      knownKeys.delete(row.key_name)
      await store.erase(id, deps.clock.now())
    },
  }
}
