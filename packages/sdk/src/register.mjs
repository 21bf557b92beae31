// `node --import @bulwark/sdk/register app.ts`: lets Node load Bulwark's
// packages from node_modules, where they are published as TypeScript (the
// sources Node's type stripping runs in this repository). Node refuses to
// strip types under node_modules (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING),
// so this load hook strips the `@bulwark/*` files itself with
// `module.stripTypeScriptTypes` (the same stripper Node uses: every position
// is kept, so stack traces still point at the .ts lines). Other packages under
// node_modules are left to Node. The `bulwark` command and every process the
// supervisor starts load it.
//
// With BULWARK_STRIP_CACHE set (the supervisor sets it) it also serves every
// TypeScript module from a cache of its stripped JavaScript, so a warm machine
// never loads the stripper (amaro, an swc wasm build) at all.
// Plain JavaScript on purpose: it must load before any TypeScript does.
import { registerHooks, stripTypeScriptTypes } from 'node:module'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const dir = process.env.BULWARK_STRIP_CACHE || undefined
const OURS = /\/node_modules\/@bulwark\/[^/]+\//

// `stripTypeScriptTypes` warns that it is experimental once per process; it is
// what Node's own `--experimental-strip-types` path runs, so that one warning
// is noise on every `bulwark` command. Every other warning still prints.
const emitWarning = process.emitWarning
process.emitWarning = function filtered(warning, ...rest) {
  if (String(warning?.message ?? warning).startsWith('stripTypeScriptTypes')) return
  return emitWarning.call(process, warning, ...rest)
}

function strip(source) {
  if (!dir) return stripTypeScriptTypes(source, { mode: 'strip' })
  const key = createHash('sha256').update(process.version).update('\0').update(source).digest('hex')
  const cached = join(dir, `${key}.js`)
  try {
    return readFileSync(cached, 'utf8')
  } catch {
    const code = stripTypeScriptTypes(source, { mode: 'strip' })
    const temp = `${cached}.${process.pid}.tmp`
    writeFileSync(temp, code, { mode: 0o600 })
    renameSync(temp, cached)
    return code
  }
}

if (dir) mkdirSync(dir, { recursive: true, mode: 0o700 })
registerHooks({
  load(url, context, nextLoad) {
    if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context)
    const inNodeModules = url.includes('/node_modules/')
    // Outside node_modules Node strips by itself; the hook only adds the cache there.
    if (inNodeModules ? !OURS.test(url) : !dir) return nextLoad(url, context)
    return { format: 'module', source: strip(readFileSync(fileURLToPath(url), 'utf8')), shortCircuit: true }
  },
})
