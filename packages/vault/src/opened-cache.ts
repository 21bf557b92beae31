// A bounded cache of opened secret versions. An entry is used only when the
// stored row is byte-for-byte the row that was authenticated when it was
// filled (same wrapped key, KEK version and ciphertext), so a tampered or
// swapped row misses the cache and fails authentication as before. It saves
// the two AES-GCM operations of a hot read; 0 entries disables it.
type Row = { version: number; kek_version: number | null; wrapped_dek: Uint8Array | null; ciphertext: Uint8Array | null }
type Entry = { kek: number | null; wrapped: Buffer; ciphertext: Buffer; data: Record<string, unknown> }

const same = (a: Buffer, b: Uint8Array | null) => b !== null && a.equals(b)

export function createOpenedCache(maxEntries: number) {
  const entries = new Map<string, Entry>()
  const id = (path: string, version: number) => `${version}\u0000${path}`
  return {
    lookup(path: string, row: Row): Record<string, unknown> | undefined {
      if (maxEntries === 0) return undefined
      const entry = entries.get(id(path, row.version))
      if (!entry || entry.kek !== row.kek_version || !same(entry.ciphertext, row.ciphertext) || !same(entry.wrapped, row.wrapped_dek)) return undefined
      return entry.data
    },
    store(path: string, row: Row, data: Record<string, unknown>): void {
      if (maxEntries === 0 || !row.wrapped_dek || !row.ciphertext) return
      const key = id(path, row.version)
      entries.delete(key)
      entries.set(key, { kek: row.kek_version, wrapped: Buffer.from(row.wrapped_dek), ciphertext: Buffer.from(row.ciphertext), data })
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!)
    },
  }
}
