// Canonical JSON for audit entries: object keys sorted, no whitespace, so the
// bytes that are hashed into the Merkle tree do not depend on how a line was
// formatted, only on what it says.
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value)
    if (text === undefined) throw new TypeError('canonicalJson: value is not representable in JSON')
    return text
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`
  const keys = Object.keys(value).filter((key) => (value as Record<string, unknown>)[key] !== undefined).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`).join(',')}}`
}
