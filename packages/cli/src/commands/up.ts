// `bulwark up [--demo]`: the supervisor in the foreground. Creates the home on
// first run, starts every component, prints the gateway URL, and shuts down
// cleanly on SIGINT/SIGTERM.
import { existsSync } from 'node:fs'
import { checkReplicas, checkServices, gatewayUrl } from '@bulwark/core/base'
import { intFlag, parseArgs, UsageError } from '../args.ts'
import type { CliContext } from '../context.ts'
import { plannedComponents } from '../supervisor/components.ts'
import { launchSpecOf } from '../supervisor/launch-spec.ts'
import { isProcessAlive, readRunState } from '../supervisor/state.ts'
import { createSupervisor } from '../supervisor/supervisor.ts'
import { describeStorage } from '../supervisor/storage.ts'

export const usage = `bulwark up [--demo] [--port N]
  Starts every component (and with --demo the demo shop, seeded) in the foreground.
  Creates the home on first run. --port sets the gateway port for this run.`

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { positionals, flags } = parseArgs(args, { demo: 'boolean', port: 'string' })
  if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\``)
  const demo = flags.demo === true
  const port = intFlag(flags, 'port', 1, 65535)
  if (!existsSync(ctx.paths.config)) {
    // Loaded only when needed: key generation pulls in the X.509 toolkit, which the running supervisor never uses.
    const { initHome } = await import('./init.ts')
    await initHome(ctx.home, { gatewayPort: port })
    ctx.out(`created Bulwark home at ${ctx.home}`)
  }
  const previous = readRunState(ctx.paths.runState)
  if (previous && previous.supervisorPid !== process.pid && isProcessAlive(previous.supervisorPid)) {
    ctx.err(`bulwark: already running (supervisor pid ${previous.supervisorPid}) for home \`${ctx.home}\``)
    return 1
  }
  const base = ctx.config()
  const config = port === undefined ? base : { ...base, components: { ...base.components, gateway: { ...base.components.gateway!, port } } }
  const names = plannedComponents(config, demo)
  // The user's services and routes are checked before anything starts; so is whether each can run (sidecar: planned).
  // Replicas only on PostgreSQL, only for the components that can share their state, on free ports.
  const problems = [...checkServices(config), ...checkReplicas(config, describeStorage(config).engine === 'postgres')]
  if (problems.length > 0) {
    ctx.err(`bulwark: ${ctx.paths.config}: ${problems.length} problem(s):\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`)
    return 1
  }
  for (const name of names) {
    try {
      launchSpecOf(config, name, ctx.home)
    } catch (error) {
      ctx.err(`bulwark: ${(error as Error).message}`)
      return 1
    }
  }
  const write = (line: string) => process.stdout.write(`${line}\n`)
  const supervisor = createSupervisor(ctx, config, names, { demo, write })

  let stopping: Promise<void> | undefined
  const stop = (signal: string) => {
    if (!stopping) {
      write(`[supervisor] ${signal}: stopping ${names.length} components`)
      stopping = supervisor.stop()
    }
    return stopping
  }
  const exitOn = (signal: NodeJS.Signals) => process.on(signal, () => { void stop(signal).then(() => process.exit(0)) })
  exitOn('SIGINT')
  exitOn('SIGTERM')

  const started = Date.now()
  try {
    await supervisor.start()
  } catch (error) {
    ctx.err(`bulwark: start failed: ${(error as Error).message}`)
    await stop('start failure')
    return 1
  }
  const url = gatewayUrl(config)
  write(`Bulwark is ready in ${((Date.now() - started) / 1000).toFixed(1)} s: gateway ${url} (OIDC issuer ${url})`)
  write(`  components: ${names.join(', ')}`)
  if (demo) write(`  demo credentials: ${ctx.paths.demoCredentials}`)
  write(`  trust anchor: ${ctx.paths.rootCert}   stop with Ctrl-C`)
  // Stay in the foreground until a signal arrives.
  await new Promise<never>(() => {})
  return 0
}
