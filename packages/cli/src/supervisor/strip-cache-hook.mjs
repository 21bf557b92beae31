// Preloaded into every component process (`--import`): serves TypeScript
// modules from a cache of their type-stripped JavaScript, so a warm machine
// never loads Node's type stripper (amaro, an swc wasm build) at all. The
// output is what Node itself would run: `module.stripTypeScriptTypes` keeps
// every position, so stack traces still point at the .ts lines.
// Plain JavaScript on purpose: it must load before any TypeScript does.
import { registerHooks, stripTypeScriptTypes } from 'node:module'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const dir = process.env.BULWARK_STRIP_CACHE
if (dir) {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  registerHooks({
    load(url, context, nextLoad) {
      if (!url.startsWith('file:') || !url.endsWith('.ts') || url.includes('/node_modules/')) return nextLoad(url, context)
      const source = readFileSync(fileURLToPath(url), 'utf8')
      const key = createHash('sha256').update(process.version).update('\0').update(source).digest('hex')
      const cached = join(dir, `${key}.js`)
      let code
      try {
        code = readFileSync(cached, 'utf8')
      } catch {
        code = stripTypeScriptTypes(source, { mode: 'strip' })
        const temp = `${cached}.${process.pid}.tmp`
        writeFileSync(temp, code, { mode: 0o600 })
        renameSync(temp, cached)
      }
      return { format: 'module', source: code, shortCircuit: true }
    },
  })
}
