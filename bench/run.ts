// `npm run bench`: runs every benchmark folder (bench/<name>/index.ts) one
// after another — each prints its own table of figures and ratios — or only
// the ones named: `npm run bench -- gateway policy`.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const root = import.meta.dirname
const wanted = process.argv.slice(2)
const names = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'index.ts')))
  .map((d) => d.name)
  .filter((n) => wanted.length === 0 || wanted.includes(n))
  .sort()
/** CPU time counters of the whole machine: [stolen by the hypervisor, all]. */
function cpuTicks(): [number, number] {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
    return [fields[7]!, fields.reduce((a, b) => a + b, 0)]
  } catch {
    return [0, 0]
  }
}

let failed = 0
for (const name of names) {
  process.stdout.write(`\n=== bench/${name} ===\n`)
  const [steal0, all0] = cpuTicks()
  const result = spawnSync(process.execPath, [join(root, name, 'index.ts')], { stdio: 'inherit' })
  const [steal1, all1] = cpuTicks()
  // On a virtual machine the host may take CPU away; figures from a run with much stolen time undercount.
  if (all1 > all0) process.stdout.write(`(machine during bench/${name}: ${(100 * (steal1 - steal0) / (all1 - all0)).toFixed(1)} % of CPU time stolen by the hypervisor)\n`)
  if (result.status !== 0) {
    failed++
    process.stdout.write(`bench/${name} exited with ${result.status}\n`)
  }
}
process.exit(failed > 0 ? 1 : 0)
