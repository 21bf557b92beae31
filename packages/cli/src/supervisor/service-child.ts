// A user's own service, started from its configured command: spawned (no
// shell) with an IPC channel for the sdk bootstrap, the environment every
// component gets (credential-looking variables stripped) plus its `env`, and
// the load hook that lets it import `@bulwark/sdk` from node_modules.
import { spawn } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import type { BootstrapMessage } from '@bulwark/core/base'
import { childEnvironment, STRIP_HOOK, superviseChild, type ChildHandle } from './child.ts'
import type { LaunchSpec } from './launch-spec.ts'

export function serviceEnvironment(spec: Extract<LaunchSpec, { kind: 'service' }>, cacheDir: string | undefined): NodeJS.ProcessEnv {
  const env = { ...childEnvironment(cacheDir), ...spec.env }
  // NODE_OPTIONS reaches the Node.js program however it is started (`node`, `npm start`, a shebang).
  env.NODE_OPTIONS = [process.env.NODE_OPTIONS, `--import=${pathToFileURL(STRIP_HOOK).href}`].filter(Boolean).join(' ')
  return env
}

export function startServiceChild(spec: Extract<LaunchSpec, { kind: 'service' }>, bootstrap: BootstrapMessage, write: (line: string) => void, options: { readyTimeoutMs?: number; cacheDir?: string } = {}): ChildHandle {
  const child = spawn(spec.program, spec.args, { cwd: spec.cwd, env: serviceEnvironment(spec, options.cacheDir), stdio: ['ignore', 'pipe', 'pipe', 'ipc'], shell: false })
  return superviseChild(child, bootstrap, write, options.readyTimeoutMs)
}
