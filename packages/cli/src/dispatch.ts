// The `bulwark` command: global options, then one module per command.
// (src/main.ts is the executable; this module only dispatches.)
import { resolve } from 'node:path'
import { resolveHome } from '@bulwark/core/base'
import { CliError, createCliContext } from './context.ts'
import { UsageError } from './args.ts'

type CommandModule = { usage: string; run(args: string[], ctx: ReturnType<typeof createCliContext>): Promise<number> }

const COMMAND_NAMES = ['init', 'up', 'run', 'status', 'secrets', 'audit', 'alerts', 'incident', 'ca', 'policy', 'deploy', 'service', 'sidecar'] as const

async function loadCommand(name: string): Promise<CommandModule> {
  // Each command is its own module, loaded only when used (keeps `status` fast).
  return await import(`./commands/${name}.ts`) as CommandModule
}

const HELP = `usage: bulwark [--home DIR] [--json] <command> [args]

commands:
  init        create the home (.bulwark/): CA, operator certificate, keys, config
  up          start every component in the foreground (--demo adds the shop)
  run         run one component without the supervisor (the container entry point)
  status      health of the running instance (--json)
  secrets     put | get | list | delete secrets in the vault
  audit       tail | export | verify | archive the tamper-evident audit log
  alerts      security alerts raised by the detectors
  incident    revoke | rotate-keys | quarantine | release
  ca          issue | list workload certificates
  policy      validate | test | apply | diff Cedar policies
  deploy      kubernetes --out DIR: render the Kubernetes manifests
  service     add: declare your own service (config, gateway route, starter policy)
  sidecar     run the sidecar of a service in any language (started by \`up\` for a service with \`sidecar\`)

The home is .bulwark/ in the working directory unless --home or BULWARK_HOME says otherwise.
Exit codes: 0 success, 1 failed check, 2 bad usage.`

export async function main(argv: string[]): Promise<number> {
  const args = [...argv]
  let home: string | undefined
  let json = false
  while (args.length > 0 && args[0]!.startsWith('--')) {
    const flag = args.shift()!
    if (flag === '--json') json = true
    else if (flag === '--home') home = args.shift()
    else if (flag.startsWith('--home=')) home = flag.slice('--home='.length)
    else if (flag === '--help' || flag === '-h') { process.stdout.write(`${HELP}\n`); return 0 }
    else { process.stderr.write(`bulwark: unknown option \`${flag}\`\n${HELP}\n`); return 2 }
  }
  const command = args.shift()
  if (!command || command === 'help') { process.stdout.write(`${HELP}\n`); return command ? 0 : 2 }
  if (!(COMMAND_NAMES as readonly string[]).includes(command)) { process.stderr.write(`bulwark: unknown command \`${command}\`\n${HELP}\n`); return 2 }
  if (args.includes('--json')) json = true
  const ctx = createCliContext({ home: home ? resolve(home) : resolveHome(), json })
  const module = await loadCommand(command)
  if (args.includes('--help')) { process.stdout.write(`${module.usage}\n`); return 0 }
  try {
    return await module.run(args, ctx)
  } catch (error) {
    if (error instanceof UsageError) { process.stderr.write(`bulwark ${command}: ${error.message}\n${module.usage}\n`); return 2 }
    if (error instanceof CliError) { process.stderr.write(`bulwark ${command}: ${error.message}\n`); return error.exitCode }
    process.stderr.write(`bulwark ${command}: ${(error as Error).message}\n`)
    return 1
  } finally {
    await ctx.close()
  }
}
