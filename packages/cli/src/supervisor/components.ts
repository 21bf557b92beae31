// Which components exist in this checkout and where their entry points are.
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { COMPONENT_ORDER, SHOP_COMPONENTS, type PlatformConfig } from '@bulwark/core/base'

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')

export function entryPointOf(name: string): string {
  const dir = (SHOP_COMPONENTS as readonly string[]).includes(name) ? join(REPO_ROOT, 'examples', 'shop', name) : join(REPO_ROOT, 'packages', name)
  return join(dir, 'src', 'main.ts')
}

/** Enabled components whose code is present, in start order; the shop only with `demo`. */
export function plannedComponents(config: PlatformConfig, demo: boolean): string[] {
  const names = [...COMPONENT_ORDER, ...Object.keys(config.components).filter((n) => !(COMPONENT_ORDER as readonly string[]).includes(n))]
  return names.filter((name) => {
    const section = config.components[name]
    if (!section || section.enabled === false) return false
    if ((SHOP_COMPONENTS as readonly string[]).includes(name) && !demo) return false
    return existsSync(entryPointOf(name))
  })
}

/** Code caches live with the installed code (node_modules/.cache), not in a home: every home reuses them. */
export function codeCacheDir(): string {
  return process.env.BULWARK_CODE_CACHE ?? join(REPO_ROOT, 'node_modules', '.cache', 'bulwark')
}
