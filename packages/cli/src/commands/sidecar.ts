// `bulwark sidecar`: runs the sidecar of a service written in any language
// (docs/sidecar.md). `bulwark up` starts it as the component for a
// `components.<name>` with `sidecar: {appPort}`: it receives that component's
// bootstrap over IPC (or from BULWARK_BOOTSTRAP_FILE), owns its SVID and port,
// and forwards to the app on 127.0.0.1:appPort.
import { UsageError } from '../args.ts'
import type { CliContext } from '../context.ts'

export const usage = `bulwark sidecar
  Runs the sidecar of the component named by its bootstrap (sent over IPC by
  \`bulwark up\`, or read from the 0600 file named by BULWARK_BOOTSTRAP_FILE).
  Settings come from that component's \`sidecar\` section: appPort, egressPort,
  routes, maxBodyBytes, maxResponseBytes, timeoutMs (docs/sidecar.md).`

export async function run(args: string[], _ctx: CliContext): Promise<number> {
  if (args.length > 0) throw new UsageError('takes no arguments: its settings come from the bootstrap')
  // Importing the entry starts it; it runs until SIGTERM/SIGINT and exits the process itself.
  await import('@bulwark/sidecar/main')
  return 0
}
