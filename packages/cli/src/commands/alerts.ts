// `bulwark alerts`: what the audit service's detectors raised, newest last,
// with the response each one triggered (account lock, IP/client block).
import { intFlag, parseArgs, UsageError } from '../args.ts'
import type { CliContext } from '../context.ts'

export const usage = `bulwark alerts [--json] [--limit N]
  security alerts raised by the audit service's detectors (the last N, default 50),
  each with the response it triggered
Exit codes: 0 success, 1 the audit service refused or is unreachable, 2 bad usage.`

type Alert = {
  seq: number; id: string; detector: string; severity: string; key: string; summary: string; time: string
  outcome?: { action: string; status: string; detail?: string }
}

export async function run(args: string[], context: CliContext): Promise<number> {
  const { positionals, flags } = parseArgs(args, { json: 'boolean', limit: 'string' })
  const ctx: CliContext = flags.json === true ? { ...context, json: true } : context
  if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\``)
  const limit = intFlag(flags, 'limit', 1, 100_000) ?? 50
  const alerts: Alert[] = []
  for (let after = 0; ;) {
    const page = (await ctx.callOk('audit', 'GET', `/v1/alerts?after=${after}&limit=1000`)).body as { alerts: Alert[] }
    alerts.push(...page.alerts)
    if (page.alerts.length < 1000) break
    after = page.alerts[page.alerts.length - 1]!.seq
  }
  const shown = alerts.slice(-limit)
  if (ctx.json) {
    ctx.out(JSON.stringify({ alerts: shown }))
    return 0
  }
  if (shown.length === 0) {
    ctx.out('no alerts')
    return 0
  }
  for (const a of shown) {
    const response = a.outcome ? `  → ${a.outcome.action}: ${a.outcome.status}${a.outcome.detail ? ` (${a.outcome.detail})` : ''}` : ''
    ctx.out(`${a.time}  ${a.severity.toUpperCase().padEnd(6)}  ${a.detector.padEnd(17)}  ${a.summary}${response}`)
  }
  return 0
}
