// How the supervisor starts one component: a platform component (or demo shop
// service) is its package's entry point, forked; a user's own service is its
// configured `command`. Both get the sdk bootstrap (join token and all) over
// the IPC channel, never argv or env. A component with `sidecar` will be
// `bulwark sidecar` plus the app command (planned: refused until it exists).
import { dirname, resolve } from 'node:path'
import type { PlatformConfig, ServiceSection } from '@bulwark/core/base'
import { entryPointOf, isUserService } from './components.ts'

export type LaunchSpec =
  | { kind: 'component'; entry: string }
  | { kind: 'service'; program: string; args: string[]; cwd: string; env: Record<string, string> }

/** Thrown for a component that is configured right but cannot run yet. */
export class PlannedFeatureError extends Error {}

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
  if (section.sidecar) {
    // The sidecar plugs in here: a `{ kind: 'sidecar', appPort, app: <the service spec> }` that the
    // supervisor starts as `bulwark sidecar` (owning the SVID and `port`) next to the app command.
    throw new PlannedFeatureError(`components.${name}: sidecar: planned (any-language services behind \`bulwark sidecar\` are not built yet); use a Node.js service with the sdk's runComponent`)
  }
  const [program, ...args] = section.command
  return {
    kind: 'service',
    program: /(^|\/)node$/.test(program!) ? process.execPath : program!,
    args,
    cwd: resolve(dirname(home), section.cwd ?? '.'),
    env: { ...section.env },
  }
}
