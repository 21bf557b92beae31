// Turns Cedar policy text (one or more files) into a set keyed by policy id.
// Ids come from `@id("…")` annotations (unique across the set) or, failing
// that, `<file>#<n>`. Source positions are kept so diagnostics name a line.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { cedar } from './cedar.ts'

export type PolicySource = { file: string; line: number; injected?: boolean }
export type Diagnostic = { policyId?: string; file?: string; line?: number; message: string; help?: string; code?: string }

export type ParsedPolicies = {
  /** Policy id -> Cedar text of that one policy. */
  policies: Record<string, string>
  sources: Record<string, PolicySource>
  errors: Diagnostic[]
}

function lineOf(text: string, offset: number): number {
  let line = 1
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

/** Parses named Cedar files into one id-keyed set; every problem is reported, none thrown. */
export function parsePolicyFiles(files: Record<string, string>): ParsedPolicies {
  const policies: Record<string, string> = {}
  const sources: Record<string, PolicySource> = {}
  const errors: Diagnostic[] = []
  for (const [file, text] of Object.entries(files)) {
    const parts = cedar.policySetTextToParts(text)
    if (parts.type === 'failure') {
      for (const e of parts.errors) {
        const at = e.sourceLocations?.[0]?.start
        errors.push({ file, ...(at === undefined ? {} : { line: lineOf(text, at) }), message: e.message, ...(e.help ? { help: e.help } : {}) })
      }
      continue
    }
    if (parts.policy_templates.length > 0) errors.push({ file, message: 'policy templates are not supported; write static policies' })
    let cursor = 0
    parts.policies.forEach((policy, index) => {
      const at = text.indexOf(policy, cursor)
      if (at >= 0) cursor = at + policy.length
      const json = cedar.policyToJson(policy)
      const annotated = json.type === 'success' ? json.json.annotations?.id : undefined
      const id = annotated ?? `${file}#${index + 1}`
      const source = { file, line: at >= 0 ? lineOf(text, at) : 0 }
      if (Object.hasOwn(policies, id)) {
        errors.push({ policyId: id, ...source, message: `duplicate policy id \`${id}\` (first in ${sources[id]!.file}:${sources[id]!.line})` })
        return
      }
      // Every stored policy carries its id, so the set's text round-trips to the same ids.
      policies[id] = annotated === undefined ? `@id(${JSON.stringify(id)})\n${policy}` : policy
      sources[id] = annotated === undefined ? { ...source, injected: true } : source
    })
  }
  return { policies, sources, errors }
}

/** Reads a `.cedar` file, or every `.cedar` file in a folder (sorted, not recursive), as name -> text. */
export function readPolicyPath(path: string): Record<string, string> {
  const stat = statSync(path)
  if (stat.isFile()) return { [basename(path)]: readFileSync(path, 'utf8') }
  const files: Record<string, string> = {}
  for (const name of readdirSync(path).filter((n) => n.endsWith('.cedar')).sort()) {
    files[name] = readFileSync(join(path, name), 'utf8')
  }
  return files
}

/** Several files or folders merged; a name seen twice is prefixed with its path. */
export function readPolicyPaths(paths: readonly string[]): Record<string, string> {
  const files: Record<string, string> = {}
  for (const path of paths) {
    for (const [name, text] of Object.entries(readPolicyPath(path))) files[Object.hasOwn(files, name) ? join(path, name) : name] = text
  }
  return files
}

/** One Cedar text holding every policy of a set, each preceded by its id annotation. */
export function policiesToText(policies: Record<string, string>): string {
  return Object.values(policies).join('\n\n') + '\n'
}
