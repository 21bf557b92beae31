// The platform's real default policies (packages/policy) evaluated in-process
// with the policy sdk's Cedar authorizer, plus any extra test policies.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Authorizer } from '@bulwark/core'
import { createCedarAuthorizer } from '../../src/policy/cedar-authorizer.ts'

const POLICY_DIR = join(import.meta.dirname, '../../../policy')

export function defaultPolicyText(): string {
  const dir = join(POLICY_DIR, 'policies')
  return readdirSync(dir).filter((f) => f.endsWith('.cedar')).sort().map((f) => readFileSync(join(dir, f), 'utf8')).join('\n')
}

export function defaultSchemaText(): string {
  return readFileSync(join(POLICY_DIR, 'schema', 'bulwark.cedarschema'), 'utf8')
}

/** The default set (+ `extra` Cedar text). The schema is used only when `withSchema` (extra policies may use their own types). */
export function testAuthorizer(extra = '', withSchema = extra === ''): Authorizer {
  return createCedarAuthorizer({ policies: defaultPolicyText() + '\n' + extra, ...(withSchema ? { schema: defaultSchemaText() } : {}), cacheSize: 0 })
}
