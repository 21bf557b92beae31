// Config loading: defaults -> file -> environment, validated once against a
// TypeBox (JSON Schema) schema, every problem reported at once, then frozen.
import { readFileSync } from 'node:fs'
import { Ajv, type ErrorObject } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { Static, TSchema } from '@sinclair/typebox'
import { BulwarkError } from './errors.ts'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

export type ConfigIssue = { path: string; message: string }

export class ConfigError extends BulwarkError {
  readonly issues: readonly ConfigIssue[]
  constructor(source: string, issues: readonly ConfigIssue[]) {
    super('BW_CONFIG_INVALID', 500, `config ${source}: ${issues.length} problem(s): ` +
      issues.map((i) => `${i.path}: ${i.message}`).join('; '))
    this.issues = issues
  }
}

const ajv = addFormats(new Ajv({ allErrors: true, useDefaults: true, strict: false, coerceTypes: false }))
const compiled = new WeakMap<TSchema, ReturnType<Ajv['compile']>>()

function describe(error: ErrorObject): ConfigIssue {
  const base = error.instancePath === '' ? '/' : error.instancePath
  switch (error.keyword) {
    case 'additionalProperties':
      return { path: `${base === '/' ? '' : base}/${String(error.params.additionalProperty)}`, message: 'unknown key' }
    case 'required':
      return { path: `${base === '/' ? '' : base}/${String(error.params.missingProperty)}`, message: 'is required' }
    case 'enum':
      return { path: base, message: `must be one of ${JSON.stringify(error.params.allowedValues)}` }
    default:
      return { path: base, message: error.message ?? 'is invalid' }
  }
}

/** Validates `value` against `schema` (filling defaults) and returns every issue found. */
export function checkSchema<T extends TSchema>(schema: T, value: unknown): ConfigIssue[] {
  let validate = compiled.get(schema)
  if (!validate) {
    validate = ajv.compile(schema)
    compiled.set(schema, validate)
  }
  if (validate(value)) return []
  const errors = validate.errors ?? []
  // A union (anyOf) fails once per branch: report it once, naming the allowed values.
  const unionPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath))
  const issues: ConfigIssue[] = []
  for (const path of unionPaths) {
    const allowed = errors.filter((e) => e.instancePath === path && e.keyword === 'const').map((e) => e.params.allowedValue)
    issues.push({ path: path === '' ? '/' : path, message: allowed.length > 0 ? `must be one of ${JSON.stringify(allowed)}` : 'does not match any allowed form' })
  }
  for (const error of errors) {
    if (unionPaths.has(error.instancePath) && error.keyword !== 'additionalProperties' && error.keyword !== 'required') continue
    issues.push(describe(error))
  }
  return issues
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child)
  }
  return value
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Deep merge where later layers win; arrays are replaced, not concatenated. */
export function mergeLayers(...layers: unknown[]): unknown {
  let result: unknown = undefined
  for (const layer of layers) {
    if (layer === undefined) continue
    if (isPlainObject(result) && isPlainObject(layer)) {
      const merged: Record<string, unknown> = { ...result }
      for (const [key, value] of Object.entries(layer)) merged[key] = mergeLayers(merged[key], value)
      result = merged
    } else {
      result = structuredClone(layer)
    }
  }
  return result
}

export type LoadConfigOptions = {
  /** Where the file layer came from, for messages. */
  source?: string
  file?: string
  /** An already parsed layer (e.g. a section handed over by the supervisor). */
  value?: unknown
  /**
   * Environment overrides: env var name -> JSON pointer-ish dotted path.
   * Values are parsed as JSON when they look like JSON, else kept as strings.
   */
  env?: Record<string, string>
  environment?: NodeJS.ProcessEnv
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.')
  let node = target
  for (const key of keys.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {}
    node = node[key] as Record<string, unknown>
  }
  node[keys[keys.length - 1]!] = value
}

function parseEnvValue(raw: string): unknown {
  const looksJson = raw === 'true' || raw === 'false' || raw === 'null' || (raw.trim() !== '' && Number.isFinite(Number(raw))) ||
    raw.startsWith('{') || raw.startsWith('[')
  if (!looksJson) return raw
  try { return JSON.parse(raw) } catch { return raw }
}

/**
 * Loads a config: schema defaults, then the file (JSON), then `value`, then
 * environment overrides. Throws a ConfigError naming every bad key at once.
 */
export function loadConfig<T extends TSchema>(schema: T, options: LoadConfigOptions = {}): Readonly<Static<T>> {
  const source = options.source ?? options.file ?? 'value'
  let fileLayer: unknown
  if (options.file) {
    let text: string
    try {
      text = readFileSync(options.file, 'utf8')
    } catch (error) {
      throw new ConfigError(source, [{ path: '/', message: `cannot read file: ${(error as NodeJS.ErrnoException).code ?? 'error'}` }])
    }
    try {
      fileLayer = JSON.parse(text)
    } catch (error) {
      throw new ConfigError(source, [{ path: '/', message: `not valid JSON: ${(error as Error).message}` }])
    }
  }
  const envLayer: Record<string, unknown> = {}
  const environment = options.environment ?? process.env
  for (const [name, path] of Object.entries(options.env ?? {})) {
    const raw = environment[name]
    if (raw !== undefined) setPath(envLayer, path, parseEnvValue(raw))
  }
  const merged = mergeLayers({}, fileLayer, options.value, envLayer)
  const issues = checkSchema(schema, merged)
  if (issues.length > 0) throw new ConfigError(source, issues)
  return deepFreeze(merged as Static<T>)
}
