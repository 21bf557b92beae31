// Secret paths and transit key names: a small, strict alphabet so a path can
// never climb (`..`), hide (`//`) or smuggle a glob into an ACL decision.
import { VaultErrors } from './errors.ts'

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

/** Validates a secret path (`shop/users/db`) and returns it. */
export function checkPath(path: string, maxLength: number): string {
  if (typeof path !== 'string' || path.length === 0) throw VaultErrors.pathInvalid('path is empty')
  if (path.length > maxLength) throw VaultErrors.pathInvalid(`path is longer than ${maxLength} characters`)
  for (const segment of path.split('/')) {
    if (!SEGMENT.test(segment) || segment === '.' || segment === '..') {
      throw VaultErrors.pathInvalid('path segments are letters, digits, `.`, `_`, `-`, separated by single `/`')
    }
  }
  return path
}

/** A list prefix: empty (everything) or a path with an optional trailing `/`; returned with the `/`. */
export function checkPrefix(prefix: string, maxLength: number): string {
  if (prefix === '' || prefix === '/') return ''
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  return `${checkPath(trimmed, maxLength)}/`
}

export function checkKeyName(name: string): string {
  if (typeof name !== 'string' || !KEY_NAME.test(name)) {
    throw VaultErrors.pathInvalid('transit key names are 1-128 letters, digits, `.`, `_`, `-`, starting with a letter or digit')
  }
  return name
}

/** Parses `versions` from a request: positive integers, at most 100. */
export function checkVersions(value: unknown): number[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 100 || !value.every((v) => Number.isSafeInteger(v) && v > 0)) {
    throw VaultErrors.badRequest('`versions` must be a non-empty list of at most 100 positive integers')
  }
  return [...new Set(value as number[])]
}
