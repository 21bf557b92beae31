// Run by warm.ts with a component's caches and flags: loads every module of
// that component but its entry point (which would start it), so V8's compile
// cache and the type-stripped TypeScript cache hold them, then exits. A `ui`
// folder is browser code (the console bundles it for the browser): Node never
// loads it, so it is not warmed.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

function modules(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) { if (entry.name !== 'ui') out.push(...modules(path)) }
    else if (entry.name.endsWith('.ts') && entry.name !== 'main.ts' && !entry.name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

const sourceDir = process.argv[2]
if (!sourceDir) throw new TypeError('usage: warm-child.ts <component src dir>')
for (const file of modules(sourceDir)) await import(pathToFileURL(file).href)
