#!/usr/bin/env node
// Entry of the `bulwark` command (`npx bulwark`, `npm start` in this
// repository). Bulwark runs its TypeScript with Node 24's type stripping;
// installed packages sit under node_modules, where Node will not strip types,
// so @bulwark/sdk/register (a load hook) does it for `@bulwark/*` first.
// Inside this repository, on an older `node` on PATH, it re-runs itself on
// the pinned Node 24 (the root devDependency `node`).
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const major = Number(process.versions.node.split('.')[0])
if (major >= 24) {
  await import('@bulwark/sdk/register')
  await import(new URL('../src/main.ts', import.meta.url).href)
} else {
  let pinned
  try {
    pinned = createRequire(import.meta.url).resolve('node/bin/node')
  } catch {
    process.stderr.write(`bulwark: needs Node.js 24 or newer; this is ${process.version}\n`)
    process.exit(1)
  }
  const result = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(result.status ?? 1)
}
