// How the supervisor starts one component: a platform component (or demo shop
// service) is its package's entry point, forked; a user's own service is its
// configured `command`. Both get the sdk bootstrap (join token and all) over
// the IPC channel, never argv or env. A service with `sidecar` is two
// processes: `bulwark sidecar` (the component: it gets the bootstrap, owns the
// SVID and `port`) and the app command beside it, on 127.0.0.1:appPort.
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { PlatformConfig, ServiceSection } from '@bulwark/core/base'
import { entryPointOf, isUserService } from './components.ts'

export type LaunchSpec =
  | { kind: 'component'; entry: string }
  | { kind: 'service'; program: string; args: string[]; cwd: string; env: Record<string, string> }
  | { kind: 'sidecar'; entry: string; app: { program: string; args: string[]; cwd: string; env: Record<string, string> } }


/**
 * The launch of `name`. Relative `cwd` is taken from the folder holding the
 * home (the project); `node` as the program is the Node.js running Bulwark, so
 * a service runs on the same (24+) runtime whatever `node` is on PATH.
 */
export function launchSpecOf(config: PlatformConfig, name: string, home: string): LaunchSpec {
  if (!isUserService(config, name)) {
    const entry = entryPointOf(name)
    if (!entry) throw new Error(`component \`${name}\`: its package is not installed`)
    return { kind: 'component', entry }
  }
  const section = config.components[name] as unknown as ServiceSection
  const [program, ...args] = section.command
  const service = {
    program: /(^|\/)node$/.test(program!) ? process.execPath : program!,
    args,
    cwd: resolve(dirname(home), section.cwd ?? '.'),
    env: { ...section.env },
  }
  if (!section.sidecar) return { kind: 'service', ...service }
  const sidecar = section.sidecar as { appPort: number; egressPort?: number }
  // The app learns where to listen and where its egress is; nothing else of the platform.
  const env = { ...service.env, BULWARK_APP_PORT: String(sidecar.appPort), ...(sidecar.egressPort ? { BULWARK_EGRESS_URL: `http://127.0.0.1:${sidecar.egressPort}` } : {}) }
  return { kind: 'sidecar', entry: sidecarEntry(), app: { ...service, env } }
}

function sidecarEntry(): string {
  try {
    return fileURLToPath(import.meta.resolve('@bulwark/sidecar/main'))
  } catch {
    throw new Error('a service with `sidecar` needs the @bulwark/sidecar package, which is not installed')
  }
}
