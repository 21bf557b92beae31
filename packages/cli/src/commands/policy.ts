// `bulwark policy`: work with Cedar policies. `validate` and `test` run
// offline against the packaged schema (no running instance needed); `apply`,
// `diff`, `versions` and `rollback` talk to the policy service over mTLS with
// the operator certificate.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  casePolicyPaths, formatDiagnostics, loadCaseFile, readPolicyPath, resolveEntities, runPolicyCases, validatePolicyFiles, type Diagnostic,
} from '@bulwark/sdk/policy'
import { parseArgs, UsageError } from '../args.ts'
import { CliError, type CliContext } from '../context.ts'

export const usage = `bulwark policy <command> [--json]
  validate PATH [--schema FILE]   check .cedar policies (a file or a folder of them) against the
                                  schema with Cedar's validator; offline (exit 1 on any error)
  test FILE [--policies PATH] [--schema FILE]
                                  run a case file of request -> expected decision (exit 1 on any
                                  mismatch); PATH/FILE default to the case file's own settings
  apply PATH [--message TEXT]     validate and activate on the running policy service
  diff PATH [--fail-on-change]    dry run: replay the decision log through PATH and report what
                                  would change (exit 1 with --fail-on-change when anything would)
  versions                        stored versions and which one is active
  rollback VERSION                activate an older version
Exit codes: 0 success, 1 failed check or refused, 2 bad usage.`

// The policy package's schema and default policies (data files it exports), wherever it is installed.
const PACKAGED_SCHEMA = fileURLToPath(import.meta.resolve('@bulwark/policy/schema/bulwark.cedarschema'))
const PACKAGED_POLICIES = dirname(fileURLToPath(import.meta.resolve('@bulwark/policy/policies/platform.cedar')))

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new CliError(`cannot read ${what} \`${path}\`: ${(error as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

function readPolicies(path: string): Record<string, string> {
  if (!existsSync(path)) throw new CliError(`no such file or folder \`${path}\``)
  if (statSync(path).isFile() && !path.endsWith('.cedar')) throw new UsageError(`\`${path}\` is not a .cedar file`)
  let files: Record<string, string>
  try {
    files = readPolicyPath(path)
  } catch (error) {
    throw new CliError(`cannot read \`${path}\`: ${(error as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  if (Object.keys(files).length === 0) throw new CliError(`no .cedar files in \`${path}\``)
  return files
}

function need(positionals: string[], what: string): string {
  const value = positionals[1]
  if (!value) throw new UsageError(`${positionals[0]}: ${what} is required`)
  if (positionals.length > 2) throw new UsageError(`${positionals[0]}: unexpected argument \`${positionals[2]}\``)
  return value
}

function printDiagnostics(ctx: CliContext, errors: readonly Diagnostic[], warnings: readonly Diagnostic[]): void {
  if (errors.length > 0) ctx.err(formatDiagnostics(errors.map((e) => ({ ...e, message: `error: ${e.message}` }))))
  if (warnings.length > 0) ctx.err(formatDiagnostics(warnings.map((w) => ({ ...w, message: `warning: ${w.message}` }))))
}

function validate(positionals: string[], flags: Record<string, string | boolean>, ctx: CliContext): number {
  const path = resolve(need(positionals, 'PATH'))
  const schema = readText(typeof flags.schema === 'string' ? resolve(flags.schema) : PACKAGED_SCHEMA, 'schema')
  const result = validatePolicyFiles(schema, readPolicies(path))
  if (ctx.json) ctx.out(JSON.stringify({ ok: result.ok, policyCount: Object.keys(result.policies).length, errors: result.errors, warnings: result.warnings }))
  else {
    printDiagnostics(ctx, result.errors, result.warnings)
    ctx.out(result.ok ? `ok: ${Object.keys(result.policies).length} policies valid` : `invalid: ${result.errors.length} error(s)`)
  }
  return result.ok ? 0 : 1
}

function test(positionals: string[], flags: Record<string, string | boolean>, ctx: CliContext): number {
  const file = resolve(need(positionals, 'FILE'))
  let spec
  try {
    spec = loadCaseFile(file)
  } catch (error) {
    throw new CliError(`cannot load case file \`${file}\`: ${(error as Error).message}`)
  }
  const schemaPath = typeof flags.schema === 'string' ? resolve(flags.schema) : spec.schema ? resolve(spec.dir, spec.schema) : PACKAGED_SCHEMA
  const policyPaths = typeof flags.policies === 'string' ? [resolve(flags.policies)] : spec.policies ? casePolicyPaths(spec) : [PACKAGED_POLICIES]
  const schema = readText(schemaPath, 'schema')
  const files: Record<string, string> = {}
  for (const path of policyPaths) for (const [name, text] of Object.entries(readPolicies(path))) files[Object.hasOwn(files, name) ? `${path}/${name}` : name] = text
  const checked = validatePolicyFiles(schema, files)
  if (!checked.ok) {
    printDiagnostics(ctx, checked.errors, [])
    throw new CliError(`the policies in ${policyPaths.map((p) => `\`${p}\``).join(', ')} do not validate; fix them before testing`)
  }
  let entities
  try {
    entities = resolveEntities(spec)
  } catch (error) {
    throw new CliError(`cannot load entities: ${(error as Error).message}`)
  }
  const results = runPolicyCases({ schema, policies: checked.policies }, spec, entities)
  const failed = results.filter((r) => !r.ok)
  if (ctx.json) ctx.out(JSON.stringify({ ok: failed.length === 0, passed: results.length - failed.length, failed: failed.length, results }))
  else {
    for (const r of results) {
      ctx.out(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.ok ? '' : `: expected ${r.expected}, got ${r.actual}${r.reasons.length ? ` (by ${r.reasons.join(', ')})` : ''}${r.errors.length ? ` [${r.errors.join('; ')}]` : ''}`}`)
    }
    ctx.out(`${results.length - failed.length} passed, ${failed.length} failed`)
  }
  return failed.length === 0 ? 0 : 1
}

type Problem = { code?: string; detail?: string; errors?: Array<{ path: string; message: string; help?: string }> }

function refused(ctx: CliContext, status: number, body: unknown): number {
  const problem = (body ?? {}) as Problem
  if (ctx.json) ctx.out(JSON.stringify({ ok: false, status, ...problem }))
  else {
    ctx.err(`policy: ${status}${problem.code ? ` ${problem.code}` : ''}: ${problem.detail ?? 'refused'}`)
    for (const e of problem.errors ?? []) ctx.err(`  ${e.path}: ${e.message}${e.help ? ` (${e.help})` : ''}`)
  }
  return 1
}

async function apply(positionals: string[], flags: Record<string, string | boolean>, ctx: CliContext): Promise<number> {
  const files = readPolicies(resolve(need(positionals, 'PATH')))
  const body = { policies: files, ...(typeof flags.message === 'string' ? { message: flags.message } : {}) }
  const res = await ctx.call('policy', 'POST', '/v1/policy-sets', body)
  if (res.status !== 200 && res.status !== 201) return refused(ctx, res.status, res.body)
  const r = res.body as { version: number; unchanged: boolean; changes: { added: string[]; removed: string[]; changed: string[] } }
  if (ctx.json) ctx.out(JSON.stringify(r))
  else if (r.unchanged) ctx.out(`unchanged: version ${r.version} already holds this set`)
  else ctx.out(`applied: version ${r.version} active (${r.changes.added.length} added, ${r.changes.removed.length} removed, ${r.changes.changed.length} changed)`)
  return 0
}

async function diff(positionals: string[], flags: Record<string, string | boolean>, ctx: CliContext): Promise<number> {
  const files = readPolicies(resolve(need(positionals, 'PATH')))
  const res = await ctx.call('policy', 'POST', '/v1/policy-sets/diff', { policies: files })
  if (res.status !== 200) return refused(ctx, res.status, res.body)
  const r = res.body as { activeVersion: string | null; replayed: number; changed: number; allowToDeny: number; denyToAllow: number; changes: { added: string[]; removed: string[]; changed: string[] }; samples: Array<{ time: string; principal: string; action: string; resource: string; before: string; after: string; afterReasons: string[] }> }
  if (ctx.json) ctx.out(JSON.stringify(r))
  else {
    ctx.out(`against version ${r.activeVersion ?? '(none)'}: policies +${r.changes.added.length} -${r.changes.removed.length} ~${r.changes.changed.length}`)
    ctx.out(`replayed ${r.replayed} recorded decisions: ${r.changed} would change (${r.allowToDeny} allow -> deny, ${r.denyToAllow} deny -> allow)`)
    for (const s of r.samples) ctx.out(`  ${s.before} -> ${s.after}  ${s.principal} ${s.action} ${s.resource}  (${s.time})`)
  }
  return flags['fail-on-change'] && r.changed > 0 ? 1 : 0
}

async function versions(positionals: string[], ctx: CliContext): Promise<number> {
  if (positionals.length > 1) throw new UsageError(`versions: unexpected argument \`${positionals[1]}\``)
  const res = await ctx.callOk('policy', 'GET', '/v1/policy-sets')
  const r = res.body as { active: { version: number } | null; versions: Array<{ version: number; createdAt: number; createdBy: string; message: string; policyCount: number }> }
  if (ctx.json) ctx.out(JSON.stringify(r))
  else for (const v of r.versions) ctx.out(`${v.version === r.active?.version ? '*' : ' '} ${v.version}  ${new Date(v.createdAt).toISOString()}  ${v.policyCount} policies  ${v.createdBy}  ${v.message}`)
  return 0
}

async function rollback(positionals: string[], ctx: CliContext): Promise<number> {
  const raw = need(positionals, 'VERSION')
  if (!/^[1-9][0-9]{0,9}$/.test(raw)) throw new UsageError(`rollback: \`${raw}\` is not a version number`)
  const res = await ctx.call('policy', 'POST', `/v1/policy-sets/${raw}/activate`)
  if (res.status !== 200) return refused(ctx, res.status, res.body)
  if (ctx.json) ctx.out(JSON.stringify(res.body))
  else ctx.out(`active: version ${(res.body as { version: number }).version}`)
  return 0
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { positionals, flags } = parseArgs(args, { json: 'boolean', schema: 'string', policies: 'string', message: 'string', 'fail-on-change': 'boolean' })
  switch (positionals[0]) {
    case 'validate': return validate(positionals, flags, ctx)
    case 'test': return test(positionals, flags, ctx)
    case 'apply': return await apply(positionals, flags, ctx)
    case 'diff': return await diff(positionals, flags, ctx)
    case 'versions': return await versions(positionals, ctx)
    case 'rollback': return await rollback(positionals, ctx)
    case undefined: throw new UsageError('a command is required')
    default: throw new UsageError(`unknown command \`${positionals[0]}\``)
  }
}
