#!/usr/bin/env node
// Entry for `npx bulwark` / `npm link`: runs the TypeScript CLI on the pinned
// Node 24 (type stripping) even when the node on PATH is older.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const major = Number(process.versions.node.split('.')[0])
if (major >= 24) {
  await import(main)
} else {
  const require = createRequire(import.meta.url)
  const pinned = require.resolve('node/bin/node')
  const result = spawnSync(pinned, [main, ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(result.status ?? 1)
}
