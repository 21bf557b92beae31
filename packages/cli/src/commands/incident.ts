// `bulwark incident`: the operator's levers during an incident. Each action
// is itself written to the audit log (component `cli`, the operator as actor),
// whether it worked or not; a failure to record it fails the command.
import { randomUUID } from 'node:crypto'
import { operatorSpiffeId } from '@bulwark/core/base'
import { parseArgs, UsageError } from '../args.ts'
import { CliError, type CliContext } from '../context.ts'

export const usage = `bulwark incident <command> [--json]
  revoke --subject SUB                  revoke every token and session of a user (id or name) or client
  rotate-keys [--what signing|transit|ca]  rotate token-signing keys (identity), every transit key (vault),
                                        the CA intermediate; all three when --what is not given
  quarantine SERVICE                    revoke SERVICE's certificates and refuse every call to and from it
  release SERVICE                       lift a quarantine
Exit codes: 0 done, 1 refused/failed (or not recorded in the audit log), 2 bad usage.`

const SERVICE = /^[a-z][a-z0-9-]{0,31}$/
const WHAT = ['signing', 'transit', 'ca'] as const

type Outcome = { type: string; action: string; resource: string; result: Record<string, unknown> }

async function record(ctx: CliContext, outcome: Omit<Outcome, 'result'>, error?: unknown): Promise<void> {
  const event = {
    id: randomUUID(), type: outcome.type, time: new Date().toISOString(), component: 'cli',
    actor: { kind: 'operator', spiffeId: operatorSpiffeId(ctx.config().trustDomain) },
    action: outcome.action, resource: outcome.resource, outcome: error ? 'failure' : 'success',
    ...(error ? { reason: (error instanceof CliError ? error.message : String(error)).slice(0, 250) } : {}),
  }
  let res
  try {
    res = await ctx.call('audit', 'POST', '/v1/events', { events: [event] }, { timeoutMs: 10_000 })
  } catch (cause) {
    throw new CliError(`${error ? '' : 'done, but '}not recorded in the audit log: ${(cause as Error).message}`)
  }
  if (res.status !== 200) throw new CliError(`${error ? '' : 'done, but '}not recorded in the audit log: audit answered ${res.status}`)
}

async function revoke(ctx: CliContext, subject: string): Promise<Outcome> {
  const res = await ctx.callOk('identity', 'POST', `/admin/v1/subjects/${encodeURIComponent(subject)}/revoke`, {})
  return { type: 'incident.subject_revoked', action: 'incident.revoke', resource: `subject:${subject}`, result: res.body as Record<string, unknown> }
}

async function rotate(ctx: CliContext, what: readonly string[]): Promise<Outcome> {
  const result: Record<string, unknown> = {}
  if (what.includes('signing')) result.signing = (await ctx.callOk('identity', 'POST', '/admin/v1/keys/rotate', {})).body
  if (what.includes('transit')) {
    const names = ((await ctx.callOk('vault', 'GET', '/v1/transit/keys')).body as { keys: string[] }).keys
    const rotated: string[] = []
    for (const name of names) {
      await ctx.callOk('vault', 'POST', `/v1/transit/keys/${encodeURIComponent(name)}/rotate`, {})
      rotated.push(name)
    }
    result.transit = { rotated }
  }
  if (what.includes('ca')) result.ca = (await ctx.callOk('ca', 'POST', '/v1/rotate', {})).body
  return { type: 'incident.keys_rotated', action: 'incident.rotate_keys', resource: `keys:${what.join(',')}`, result }
}

async function quarantine(ctx: CliContext, service: string, release: boolean): Promise<Outcome> {
  const res = await ctx.callOk('ca', 'POST', release ? '/v1/release' : '/v1/quarantine', { service })
  return {
    type: release ? 'incident.service_released' : 'incident.service_quarantined', action: release ? 'incident.release' : 'incident.quarantine',
    resource: `service:${service}`, result: res.body as Record<string, unknown>,
  }
}

function plan(positionals: string[], flags: Record<string, string | boolean>): { describe: Omit<Outcome, 'result'>; run(ctx: CliContext): Promise<Outcome> } {
  const [command, ...rest] = positionals
  switch (command) {
    case 'revoke': {
      const subject = flags.subject
      if (typeof subject !== 'string' || subject.length > 256 || rest.length > 0) throw new UsageError('revoke: --subject SUB is required')
      return { describe: { type: 'incident.subject_revoked', action: 'incident.revoke', resource: `subject:${subject}` }, run: (ctx) => revoke(ctx, subject) }
    }
    case 'rotate-keys': {
      if (rest.length > 0) throw new UsageError(`unexpected argument \`${rest[0]}\``)
      const raw = flags.what
      if (raw !== undefined && !(WHAT as readonly unknown[]).includes(raw)) throw new UsageError('rotate-keys: --what is one of signing, transit, ca')
      const what = raw === undefined ? [...WHAT] : [raw as string]
      return { describe: { type: 'incident.keys_rotated', action: 'incident.rotate_keys', resource: `keys:${what.join(',')}` }, run: (ctx) => rotate(ctx, what) }
    }
    case 'quarantine':
    case 'release': {
      const service = rest[0]
      if (!service || rest.length > 1 || !SERVICE.test(service)) throw new UsageError(`${command}: SERVICE (a component name as in \`bulwark status\`) is required`)
      const release = command === 'release'
      return {
        describe: { type: release ? 'incident.service_released' : 'incident.service_quarantined', action: `incident.${command}`, resource: `service:${service}` },
        run: (ctx) => quarantine(ctx, service, release),
      }
    }
    default: throw new UsageError(command ? `unknown command \`${command}\`` : 'a command is required')
  }
}

export async function run(args: string[], context: CliContext): Promise<number> {
  const { positionals, flags } = parseArgs(args, { json: 'boolean', subject: 'string', what: 'string' })
  const ctx: CliContext = flags.json === true ? { ...context, json: true } : context
  const step = plan(positionals, flags)
  let outcome: Outcome
  try {
    outcome = await step.run(ctx)
  } catch (error) {
    await record(ctx, step.describe, error).catch((e: unknown) => ctx.err(`warning: ${(e as Error).message}`))
    throw error
  }
  await record(ctx, step.describe)
  if (ctx.json) ctx.out(JSON.stringify({ ok: true, action: outcome.action, resource: outcome.resource, result: outcome.result }))
  else ctx.out(`done: ${outcome.action.replace('incident.', '')} ${outcome.resource}`)
  return 0
}
