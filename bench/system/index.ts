// bench/system: cold start of the whole platform with the demo shop
// (`bulwark up --demo` on a fresh home) to the ready line, and the resident
// memory of every process together once it is ready and has served a little.
// Targets: ready < 10 s; < 800 MB RSS in total (Keycloak's sizing guide
// budgets 1,250 MB for one Keycloak pod alone).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { freePort, freePortBlock, tempDir } from '@bulwark/testkit'

const CLI = fileURLToPath(new URL('../../packages/cli/src/main.ts', import.meta.url))
const RUNS = Number(process.env.BENCH_SYSTEM_RUNS ?? 2)

function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : 0
  } catch {
    return 0
  }
}

async function run(cmd: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, cmd, { stdio: 'ignore' })
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd.join(' ')} exited ${code}`))))
  })
}

async function once(): Promise<{ coldStartMs: number; rss: Map<string, number> }> {
  using dir = tempDir('bulwark-bench-system-')
  const home = `${dir.path}/home`
  await run([CLI, '--home', home, 'init', '--base-port', String(await freePortBlock(10)), '--gateway-port', String(await freePort())])
  const started = performance.now()
  const child = spawn(process.execPath, [CLI, '--home', home, 'up', '--demo'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  while (!/Bulwark is ready/.test(output)) {
    if (child.exitCode !== null) throw new Error(`up exited:\n${output.slice(-3000)}`)
    if (performance.now() - started > 180_000) { child.kill('SIGKILL'); throw new Error('not ready in 180 s') }
    await new Promise((r) => setTimeout(r, 20))
  }
  const coldStartMs = performance.now() - started
  await new Promise((r) => setTimeout(r, 3000)) // let start-up garbage settle
  const state = JSON.parse(readFileSync(`${home}/run/state.json`, 'utf8')) as { supervisorPid: number; components: Array<{ name: string; pid: number }> }
  const rss = new Map<string, number>([['supervisor', rssBytes(state.supervisorPid)]])
  for (const c of state.components) rss.set(c.name, rssBytes(c.pid))
  child.kill('SIGTERM')
  await new Promise((r) => child.on('exit', r))
  return { coldStartMs, rss }
}

const results = []
for (let i = 0; i < RUNS; i++) results.push(await once())
const best = results.reduce((a, b) => (a.coldStartMs < b.coldStartMs ? a : b))
const mb = (bytes: number) => bytes / 1024 / 1024
const total = [...best.rss.values()].reduce((a, b) => a + b, 0)

console.log(`bench/system — ${RUNS} cold starts of \`bulwark up --demo\` on a fresh home (${best.rss.size - 1} components)`)
console.log('| metric | value | target | ratio to target |')
console.log('|---|---|---|---|')
for (const [i, r] of results.entries()) console.log(`| cold start #${i + 1} to ready | ${(r.coldStartMs / 1000).toFixed(2)} s | < 10 s | ${(r.coldStartMs / 10_000).toFixed(2)} |`)
console.log(`| total RSS (all processes) | ${mb(total).toFixed(0)} MB | < 800 MB | ${(mb(total) / 800).toFixed(2)} |`)
console.log(`| vs Keycloak pod budget (1,250 MB) | | | ${(mb(total) / 1250).toFixed(2)} |`)
console.log('\n| process | RSS MB |')
console.log('|---|---|')
for (const [name, bytes] of best.rss) console.log(`| ${name} | ${mb(bytes).toFixed(0)} |`)
