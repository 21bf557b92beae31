// The packaged schema and default policies (demo shop + microsegmentation +
// control plane), read from this package's folders.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { readPolicyPath } from '@bulwark/sdk/policy'

export const SCHEMA_PATH = fileURLToPath(new URL('../schema/bulwark.cedarschema', import.meta.url))
export const DEFAULT_POLICIES_DIR = fileURLToPath(new URL('../policies', import.meta.url))
export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures', import.meta.url))

export function readDefaultSchema(path = SCHEMA_PATH): string {
  return readFileSync(path, 'utf8')
}

export function readDefaultPolicies(dir = DEFAULT_POLICIES_DIR): Record<string, string> {
  return readPolicyPath(dir)
}
