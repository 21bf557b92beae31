// A user's own service, started from its configured command: spawned (no
// shell) with an IPC channel for the sdk bootstrap, the environment every
// component gets (credential-looking variables stripped) plus its `env`, and
// the load hook that lets it import `@bulwark/sdk` from node_modules.
import { spawn } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import type { BootstrapMessage } from '@bulwark/core/base'
import { createInterface } from 'node:readline'
import { childEnvironment, STRIP_HOOK, startChild, superviseChild, type ChildHandle } from './child.ts'
import type { LaunchSpec } from './launch-spec.ts'

export function serviceEnvironment(spec: { env: Record<string, string> }, cacheDir: string | undefined): NodeJS.ProcessEnv {
  const env = { ...childEnvironment(cacheDir), ...spec.env }
  // NODE_OPTIONS reaches the Node.js program however it is started (`node`, `npm start`, a shebang).
  env.NODE_OPTIONS = [process.env.NODE_OPTIONS, `--import=${pathToFileURL(STRIP_HOOK).href}`].filter(Boolean).join(' ')
  return env
}

export function startServiceChild(spec: Extract<LaunchSpec, { kind: 'service' }>, bootstrap: BootstrapMessage, write: (line: string) => void, options: { readyTimeoutMs?: number; cacheDir?: string } = {}): ChildHandle {
  const child = spawn(spec.program, spec.args, { cwd: spec.cwd, env: serviceEnvironment(spec, options.cacheDir), stdio: ['ignore', 'pipe', 'pipe', 'ipc'], shell: false })
  return superviseChild(child, bootstrap, write, options.readyTimeoutMs)
}

/**
 * A service behind `bulwark sidecar`: the sidecar is the component (bootstrap over IPC, SVID, `port`);
 * the app is spawned beside it with the same scrubbed environment and no IPC (it never sees a join
 * token). The two live and die together: when either exits the other is stopped, so the supervisor's
 * restart (keyed on the sidecar's exit) brings both back.
 */
export function startSidecarChild(spec: Extract<LaunchSpec, { kind: 'sidecar' }>, bootstrap: BootstrapMessage, write: (line: string) => void, options: { readyTimeoutMs?: number; cacheDir?: string } = {}): ChildHandle {
  const app = spawn(spec.app.program, spec.app.args, { cwd: spec.app.cwd, env: { ...childEnvironment(options.cacheDir), ...spec.app.env }, stdio: ['ignore', 'pipe', 'pipe'], shell: false })
  const prefix = `[${bootstrap.component}:app]`.padEnd(11)
  for (const stream of [app.stdout, app.stderr]) {
    if (stream) createInterface({ input: stream }).on('line', (line) => write(`${prefix} ${line}`))
  }
  app.on('error', (error) => write(`${prefix} could not start \`${spec.app.program}\`: ${error.message}`))
  const sidecar = startChild(spec.entry, bootstrap, write, options)
  app.once('exit', (code, signal) => {
    if (sidecar.process.exitCode === null && sidecar.process.signalCode === null) {
      write(`${prefix} exited (${signal ?? `code ${code}`}); stopping its sidecar so both restart`)
      sidecar.process.kill('SIGTERM')
    }
  })
  void sidecar.exited.then(() => { if (app.exitCode === null && app.signalCode === null) app.kill('SIGTERM') })
  return sidecar
}
