// Keeps the package graph strict (STYLE.md): core imports nothing of ours;
// sdk imports core; components import core/sdk and never each other; only
// tests import testkit; relative imports stay inside their package and end in .ts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve, dirname } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..')

const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  sdk: ['core'],
  testkit: ['core'],
  // `bulwark init` creates CA material offline through the ca package's public surface;
  // `bulwark sidecar` runs the sidecar package's process entry.
  cli: ['core', 'sdk', 'ca', 'sidecar'],
}
const COMPONENT_DEPS = ['core', 'sdk']

function packages(): Array<{ name: string; dir: string }> {
  const out: Array<{ name: string; dir: string }> = []
  for (const base of ['packages', 'examples/shop']) {
    let entries: string[] = []
    try { entries = readdirSync(join(ROOT, base)) } catch { continue }
    for (const name of entries) if (statSync(join(ROOT, base, name)).isDirectory()) out.push({ name, dir: join(ROOT, base, name) })
  }
  return out
}

function tsFiles(dir: string): string[] {
  const out: string[] = []
  let entries: string[] = []
  try { entries = readdirSync(dir) } catch { return out }
  for (const entry of entries) {
    if (entry === 'node_modules') continue
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) out.push(...tsFiles(path))
    else if (path.endsWith('.ts')) out.push(path)
  }
  return out
}

const SPECIFIER = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(SPECIFIER)].map((m) => m[1] ?? m[2]!).filter(Boolean)
}

test('every package imports only what the architecture allows', () => {
  const violations: string[] = []
  for (const pkg of packages()) {
    const allowed = ALLOWED[pkg.name] ?? COMPONENT_DEPS
    for (const file of tsFiles(join(pkg.dir, 'src'))) {
      for (const spec of importsOf(file)) {
        const where = relative(ROOT, file)
        if (spec.startsWith('@bulwark/')) {
          const target = spec.slice('@bulwark/'.length).split('/')[0]!
          if (target !== pkg.name && !allowed.includes(target)) violations.push(`${where} imports ${spec}`)
        } else if (spec.startsWith('.')) {
          if (!spec.endsWith('.ts') && !spec.endsWith('.json')) violations.push(`${where}: relative import \`${spec}\` must end in .ts`)
          const target = resolve(dirname(file), spec)
          if (!target.startsWith(pkg.dir + '/')) violations.push(`${where}: relative import \`${spec}\` leaves its package`)
        }
      }
    }
  }
  assert.deepEqual(violations, [])
})

test('runtime code never imports the testkit', () => {
  const offenders: string[] = []
  for (const pkg of packages()) {
    if (pkg.name === 'testkit') continue
    for (const file of tsFiles(join(pkg.dir, 'src'))) {
      if (importsOf(file).some((s) => s.startsWith('@bulwark/testkit'))) offenders.push(relative(ROOT, file))
    }
  }
  assert.deepEqual(offenders, [])
})

test('runtime code loads undici only through core\'s lean entry, and no fetch-based JWKS', () => {
  // `import 'undici'` and jose's remote JWK set load fetch and its streams: memory in every process (docs/internals.md).
  const offenders: string[] = []
  for (const pkg of packages()) {
    for (const file of tsFiles(join(pkg.dir, 'src'))) {
      const text = readFileSync(file, 'utf8')
      if (/^import\s+(?!type\b)[^;\n]*from\s+'undici'/m.test(text)) offenders.push(`${relative(ROOT, file)}: value import from 'undici'`)
      if (/createRemoteJWKSet/.test(text)) offenders.push(`${relative(ROOT, file)}: createRemoteJWKSet`)
    }
  }
  assert.deepEqual(offenders, [])
})
