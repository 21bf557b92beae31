// Which components exist in this installation and where their entry points
// are. Entry points are found by package resolution (`@bulwark/<name>/main`,
// the shop's `@bulwark/shop-<name>/main`), so the same code runs from this
// repository's workspaces and from a project that installed the packages:
// nothing is resolved relative to a checkout.
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { COMPONENT_ORDER, SHOP_COMPONENTS, type PlatformConfig } from '@bulwark/core/base'

const packageOf = (name: string) => (SHOP_COMPONENTS as readonly string[]).includes(name) ? `@bulwark/shop-${name}` : `@bulwark/${name}`

/** The entry point of a platform component (or a demo shop service), or undefined when its package is not installed. */
export function entryPointOf(name: string): string | undefined {
  try {
    return fileURLToPath(import.meta.resolve(`${packageOf(name)}/main`))
  } catch {
    return undefined
  }
}

/** True when `config.components[name]` is one of the user's own services (it names a `command`). */
export function isUserService(config: PlatformConfig, name: string): boolean {
  return Array.isArray((config.components[name] as { command?: unknown } | undefined)?.command)
}

/** Enabled components that can run here, in start order; the shop only with `demo`. */
export function plannedComponents(config: PlatformConfig, demo: boolean): string[] {
  const names = [...COMPONENT_ORDER, ...Object.keys(config.components).filter((n) => !(COMPONENT_ORDER as readonly string[]).includes(n))]
  return names.filter((name) => {
    const section = config.components[name]
    if (!section || section.enabled === false) return false
    if (isUserService(config, name)) return true
    if ((SHOP_COMPONENTS as readonly string[]).includes(name) && !demo) return false
    return entryPointOf(name) !== undefined
  })
}

/**
 * Code caches (V8's compiled code, type-stripped TypeScript) live with the
 * installed code, so every home reuses them: in the `node_modules/.cache/bulwark`
 * nearest above the installed `@bulwark/cli` (the find-cache-dir convention),
 * else in the user's cache folder. BULWARK_CODE_CACHE overrides.
 */
export function codeCacheDir(): string {
  if (process.env.BULWARK_CODE_CACHE) return process.env.BULWARK_CODE_CACHE
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules', '.cache', 'bulwark')
  }
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'bulwark')
}
