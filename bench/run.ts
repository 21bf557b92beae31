// `npm run bench`: runs every benchmark folder (bench/<name>/index.ts) one
// after another — each prints its own table of figures and ratios — or only
// the ones named: `npm run bench -- gateway policy`.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const root = import.meta.dirname
const wanted = process.argv.slice(2)
const names = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'index.ts')))
  .map((d) => d.name)
  .filter((n) => wanted.length === 0 || wanted.includes(n))
  .sort()
let failed = 0
for (const name of names) {
  process.stdout.write(`\n=== bench/${name} ===\n`)
  const result = spawnSync(process.execPath, [join(root, name, 'index.ts')], { stdio: 'inherit' })
  if (result.status !== 0) {
    failed++
    process.stdout.write(`bench/${name} exited with ${result.status}\n`)
  }
}
process.exit(failed > 0 ? 1 : 0)
