// Validation with Cedar's own validator (strict mode): unknown entity types,
// unknown actions, wrong attribute types and impossible scopes all come back
// as Cedar diagnostics, mapped to the file and line they came from.
import { cedar, type DetailedError } from './cedar.ts'
import { parsePolicyFiles, type Diagnostic, type PolicySource } from './policy-text.ts'

export type ValidationResult = {
  ok: boolean
  policies: Record<string, string>
  errors: Diagnostic[]
  warnings: Diagnostic[]
}

function toDiagnostic(error: DetailedError, policyId: string | undefined, sources: Record<string, PolicySource>, policies: Record<string, string>): Diagnostic {
  const source = policyId ? sources[policyId] : undefined
  let line = source?.line
  const at = error.sourceLocations?.[0]?.start
  if (source && policyId && at !== undefined) {
    const text = policies[policyId] ?? ''
    // Offsets are within the policy's own text; an injected `@id` line is not in the file.
    line = source.line - (source.injected ? 1 : 0) + countLines(text.slice(0, at))
  }
  return {
    ...(policyId ? { policyId } : {}),
    ...(source ? { file: source.file } : {}),
    ...(line !== undefined ? { line } : {}),
    message: error.message,
    ...(error.help ? { help: error.help } : {}),
  }
}

function countLines(text: string): number {
  let n = 0
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) n++
  return n
}

/** Checks that a schema parses; returns Cedar's errors. */
export function checkSchema(schema: string): Diagnostic[] {
  const answer = cedar.checkParseSchema(schema)
  return answer.type === 'success' ? [] : answer.errors.map((e) => ({ file: 'schema', message: e.message, ...(e.help ? { help: e.help } : {}) }))
}

/**
 * Parses and validates policy files against a schema. `ok` is false on any
 * parse or validation error; warnings (e.g. an impossible policy) do not fail.
 */
export function validatePolicyFiles(schema: string, files: Record<string, string>): ValidationResult {
  const schemaErrors = checkSchema(schema)
  if (schemaErrors.length > 0) return { ok: false, policies: {}, errors: schemaErrors, warnings: [] }
  const parsed = parsePolicyFiles(files)
  if (parsed.errors.length > 0) return { ok: false, policies: parsed.policies, errors: parsed.errors, warnings: [] }
  if (Object.keys(parsed.policies).length === 0) {
    return { ok: false, policies: {}, errors: [{ message: 'the policy set is empty: nothing would be allowed' }], warnings: [] }
  }
  const answer = cedar.validate({ schema, policies: { staticPolicies: parsed.policies }, validationSettings: { mode: 'strict' } })
  if (answer.type === 'failure') {
    return { ok: false, policies: parsed.policies, errors: answer.errors.map((e) => toDiagnostic(e, undefined, parsed.sources, parsed.policies)), warnings: [] }
  }
  const errors = answer.validationErrors.map((e) => toDiagnostic(e.error, e.policyId, parsed.sources, parsed.policies))
  const warnings = [
    ...answer.validationWarnings.map((e) => toDiagnostic(e.error, e.policyId, parsed.sources, parsed.policies)),
    ...answer.otherWarnings.map((e) => toDiagnostic(e, undefined, parsed.sources, parsed.policies)),
  ]
  return { ok: errors.length === 0, policies: parsed.policies, errors, warnings }
}

/** Renders diagnostics one per line: `file:line: policy `id`: message (help)`. */
export function formatDiagnostics(diagnostics: readonly Diagnostic[]): string {
  return diagnostics.map((d) => {
    const where = d.file ? `${d.file}${d.line ? `:${d.line}` : ''}: ` : ''
    const policy = d.policyId ? `policy \`${d.policyId}\`: ` : ''
    return `${where}${policy}${d.message}${d.help ? ` (${d.help})` : ''}`
  }).join('\n')
}
