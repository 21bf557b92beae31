// Canonical JSON for audit entries: object keys sorted (code-unit order; as
// in any JavaScript engine, integer-like keys come first in numeric order),
// undefined members dropped, no whitespace. The bytes hashed into the Merkle
// tree so depend only on what an entry says, not on how a line was formatted.
/** A deep copy with object members in canonical (sorted) order; undefined members dropped. */
export function sorted(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : sorted(item)))
  // A null-prototype object: a member named `__proto__` stays a member.
  const out = Object.create(null) as Record<string, unknown>
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key]
    if (member !== undefined) out[key] = sorted(member)
  }
  return out
}

export function canonicalJson(value: unknown): string {
  const text = JSON.stringify(sorted(value))
  if (text === undefined) throw new TypeError('canonicalJson: value is not representable in JSON')
  return text
}
