// Fills the machine-level code caches (V8 compile cache, type-stripped
// TypeScript; see child.ts) for every component before its first start, so a
// fresh install's first `bulwark up` starts as fast as later ones (bench/system:
// ~11 s with empty caches, ~8 s with warm ones). Run by npm's postinstall
// (scripts/warm-code-cache.mjs). Each component warms in its own process with
// the flags and environment it runs with, two at a time (two cores).
import { fork } from 'node:child_process'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { COMPONENT_ORDER } from '@bulwark/core/base'
import { childEnvironment, childExecArgv } from './child.ts'
import { codeCacheDir, entryPointOf } from './components.ts'

const WARM_CHILD = fileURLToPath(new URL('./warm-child.ts', import.meta.url))

function warmOne(name: string, cacheDir: string): Promise<boolean> {
  const entry = entryPointOf(name)
  if (!entry) return Promise.resolve(false)
  return new Promise((resolve) => {
    const child = fork(WARM_CHILD, [dirname(entry)], { stdio: 'ignore', env: childEnvironment(cacheDir), execArgv: childExecArgv(cacheDir) })
    child.on('exit', (code) => resolve(code === 0))
    child.on('error', () => resolve(false))
  })
}

export async function warmCodeCaches(options: { cacheDir?: string; parallel?: number } = {}): Promise<{ warmed: string[]; failed: string[] }> {
  const cacheDir = options.cacheDir ?? codeCacheDir()
  const queue = [...COMPONENT_ORDER] as string[]
  const warmed: string[] = []
  const failed: string[] = []
  await Promise.all(Array.from({ length: options.parallel ?? 2 }, async () => {
    for (let name = queue.shift(); name; name = queue.shift()) (await warmOne(name, cacheDir) ? warmed : failed).push(name)
  }))
  return { warmed, failed }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now()
  const { warmed, failed } = await warmCodeCaches()
  process.stdout.write(`bulwark: code caches warmed for ${warmed.length} components in ${((performance.now() - started) / 1000).toFixed(1)} s${failed.length ? ` (not: ${failed.join(', ')})` : ''}\n`)
}
