// A small, strict argv parser: known flags only, so a typo is exit 2, not a
// silently ignored option. Values never come from the environment.
export type ParsedArgs = { positionals: string[]; flags: Record<string, string | boolean> }

export class UsageError extends Error {}

/** `spec` maps flag name -> 'boolean' | 'string'. Accepts `--x v`, `--x=v`. */
export function parseArgs(args: readonly string[], spec: Record<string, 'boolean' | 'string'>): ParsedArgs {
  const positionals: string[] = []
  const flags: Record<string, string | boolean> = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') { positionals.push(...args.slice(i + 1)); break }
    if (!arg.startsWith('--')) { positionals.push(arg); continue }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    const kind = spec[name]
    if (!kind) throw new UsageError(`unknown option \`--${name}\``)
    if (kind === 'boolean') {
      if (eq !== -1) throw new UsageError(`option \`--${name}\` takes no value`)
      flags[name] = true
    } else {
      const value = eq !== -1 ? arg.slice(eq + 1) : args[++i]
      if (value === undefined || value === '') throw new UsageError(`option \`--${name}\` needs a value`)
      flags[name] = value
    }
  }
  return { positionals, flags }
}

export function intFlag(flags: ParsedArgs['flags'], name: string, min: number, max: number): number | undefined {
  const raw = flags[name]
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`\`--${name}\` must be an integer from ${min} to ${max}`)
  return value
}
