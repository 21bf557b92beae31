// `bulwark policy test`: a file of request -> expected decision cases, run
// against a policy set with the in-process authorizer.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { EntityRef } from '@bulwark/core'
import { createCedarAuthorizer } from './cedar-authorizer.ts'
import type { CedarEntity } from './request-trim.ts'

export type PolicyCase = {
  name: string
  principal: string | EntityRef
  action: string
  resource: string | EntityRef
  context?: Record<string, unknown>
  /** Entities for this case only, added to the file's store. */
  entities?: CedarEntity[]
  expect: 'allow' | 'deny'
}

export type PolicyCaseFile = {
  schema?: string
  /** A `.cedar` file or folder, or several (merged), relative to the case file. */
  policies?: string | string[]
  entities?: string | CedarEntity[]
  defaultContext?: Record<string, unknown>
  cases: PolicyCase[]
}

export type CaseResult = { name: string; expected: 'allow' | 'deny'; actual: 'allow' | 'deny'; ok: boolean; reasons: string[]; errors: string[] }

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/
const isTypeName = (type: string) => type.length > 0 && type.split('::').every((part) => IDENT.test(part))

/** Parses `Type::"id"` (Cedar's literal form) or passes an EntityRef through. */
export function parseUid(value: string | EntityRef): EntityRef {
  if (typeof value !== 'string') {
    if (!value || typeof value.type !== 'string' || typeof value.id !== 'string') throw new TypeError('entity reference must be `Type::"id"` or {type, id}')
    return value
  }
  const text = value.trim()
  const at = text.indexOf('::"')
  const type = at > 0 ? text.slice(0, at) : ''
  let id: unknown
  try { id = JSON.parse(text.slice(at + 2)) } catch { id = undefined }
  if (!isTypeName(type) || typeof id !== 'string') throw new TypeError(`not an entity reference: \`${value}\``)
  return { type, id }
}

/** Loads a case file; relative `schema`, `policies` and `entities` paths resolve from the file's folder. */
export function loadCaseFile(path: string): PolicyCaseFile & { dir: string } {
  const spec = JSON.parse(readFileSync(path, 'utf8')) as PolicyCaseFile
  if (!spec || !Array.isArray(spec.cases)) throw new TypeError('case file: `cases` must be an array')
  return { ...spec, dir: dirname(resolve(path)) }
}

/** The case file's policy paths, resolved from its folder (empty when it names none). */
export function casePolicyPaths(spec: PolicyCaseFile & { dir: string }): string[] {
  if (spec.policies === undefined) return []
  return (Array.isArray(spec.policies) ? spec.policies : [spec.policies]).map((p) => resolve(spec.dir, p))
}

export function resolveEntities(spec: PolicyCaseFile & { dir: string }): CedarEntity[] {
  if (spec.entities === undefined) return []
  if (typeof spec.entities === 'string') return JSON.parse(readFileSync(resolve(spec.dir, spec.entities), 'utf8')) as CedarEntity[]
  return spec.entities
}

/** Runs every case; a malformed case is a failed case, not a crash. */
export function runPolicyCases(set: { schema?: string; policies: Record<string, string> }, spec: PolicyCaseFile, entities: readonly CedarEntity[]): CaseResult[] {
  const authorizer = createCedarAuthorizer({ schema: set.schema, policies: set.policies, version: 'test', cacheSize: 0 })
  try {
    return spec.cases.map((c, index) => {
      const name = c.name ?? `case ${index + 1}`
      try {
        if (c.expect !== 'allow' && c.expect !== 'deny') throw new TypeError('`expect` must be "allow" or "deny"')
        const principal = parseUid(c.principal)
        const resource = parseUid(c.resource)
        const context = c.action === 'call' ? { ...c.context } : { ...spec.defaultContext, ...c.context }
        const d = authorizer.authorize({ principal, action: { type: 'Action', id: c.action }, resource, context, entities: [...entities, ...(c.entities ?? [])] })
        return { name, expected: c.expect, actual: d.decision, ok: d.decision === c.expect, reasons: d.reasons, errors: d.errors }
      } catch (error) {
        return { name, expected: c.expect, actual: 'deny' as const, ok: false, reasons: [], errors: [(error as Error).message] }
      }
    })
  } finally {
    authorizer.dispose()
  }
}
