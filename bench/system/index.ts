// bench/system: cold start of the whole platform with the demo shop, started
// the way a user starts it (`npm start` on a fresh home), to the ready line;
// then a real workload of a few thousand requests across every route of the
// shop (workload.ts), and the resident memory of every process together: the
// sum of PSS (what the system holds, pages shared between processes such as
// the node binary's counted once) over the whole process tree, `npm start`'s
// own npm and shell included, and the plain sum of per-process RSS (which
// counts those shared pages once per process). Memory is sampled at ready and
// several times after the workload, keeping the largest, and shown per process
// so that growth can be attributed.
// Targets: ready < 10 s; < 800 MB in total (Keycloak's sizing guide budgets
// 1,250 MB for one Keycloak pod alone).
// Settings: BENCH_SYSTEM_RUNS (2), BENCH_SYSTEM_REQUESTS (4000),
// BENCH_SYSTEM_SECONDS (240, the workload's time bound), BENCH_SYSTEM_CONCURRENCY (8).
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { delimiter } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, freePortBlock, tempDir } from '@bulwark/testkit'
import { attachSystem, type System } from '../../scripts/lib/system.ts'
import { runWorkload, type WorkloadResult } from './workload.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI = fileURLToPath(new URL('../../packages/cli/src/main.ts', import.meta.url))
const RUNS = Number(process.env.BENCH_SYSTEM_RUNS ?? 2)
const WORKLOAD = {
  requests: Number(process.env.BENCH_SYSTEM_REQUESTS ?? 4000),
  seconds: Number(process.env.BENCH_SYSTEM_SECONDS ?? 240),
  concurrency: Number(process.env.BENCH_SYSTEM_CONCURRENCY ?? 8),
}

type Memory = { rss: number; pss: number; anon: number; cpuMs: number }
type Sample = Map<string, Memory>

/** Resident memory of one process: RSS, PSS (each shared page divided among the processes that map it), and its anonymous part (heaps). */
function memoryOf(pid: number): Memory {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
    const kb = (re: RegExp) => Number(re.exec(rollup)?.[1] ?? 0) * 1024
    return { rss: kb(/^Rss:\s+(\d+) kB/m), pss: kb(/^Pss:\s+(\d+) kB/m), anon: kb(/^Pss_Anon:\s+(\d+) kB/m), cpuMs: cpuMsOf(pid) }
  } catch {
    return { rss: 0, pss: 0, anon: 0, cpuMs: 0 }
  }
}

/** CPU time a process has used so far (user + system), from /proc/<pid>/stat in clock ticks of 10 ms. */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** Every process descending from `root` (itself included), by walking /proc's parent links. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
    } catch { /* gone meanwhile */ }
  }
  const out: number[] = []
  const walk = (pid: number) => { out.push(pid); for (const c of children.get(pid) ?? []) walk(c) }
  walk(root)
  return out
}

/** The tree's memory, each process named: components by state.json, the supervisor, and the rest (npm, its shell) by command. */
function sample(root: number, home: string): Sample {
  const state = JSON.parse(readFileSync(`${home}/run/state.json`, 'utf8')) as { supervisorPid: number; components: Array<{ name: string; pid: number }> }
  const names = new Map<number, string>([[state.supervisorPid, 'supervisor'], ...state.components.map((c) => [c.pid, c.name] as [number, string])])
  const out: Sample = new Map()
  for (const pid of processTree(root)) {
    let name = names.get(pid)
    if (!name) {
      try { name = `${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()} (wrapper, pid ${pid})` } catch { continue }
    }
    out.set(name, memoryOf(pid))
  }
  return out
}

const alive = (pid: number) => { try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false } }
const signal = (pid: number, name: NodeJS.Signals) => { try { process.kill(pid, name) } catch { /* gone */ } }
const isComponent = (pid: number, home: string) => {
  try { return (JSON.parse(readFileSync(`${home}/run/state.json`, 'utf8')) as { components: Array<{ pid: number }> }).components.some((c) => c.pid === pid) } catch { return false }
}

const total = (s: Sample, key: keyof Memory = 'pss') => [...s.values()].reduce((a, b) => a + b[key], 0)

async function run(cmd: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, cmd, { stdio: 'ignore' })
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd.join(' ')} exited ${code}`))))
  })
}

type RunResult = { coldStartMs: number; ready: Sample; after: Sample; served: Sample; workload: WorkloadResult; cpuMs: number }

async function once(): Promise<RunResult> {
  using dir = tempDir('bulwark-bench-system-')
  const home = `${dir.path}/home`
  await run([CLI, '--home', home, 'init', '--base-port', String(await freePortBlock(10)), '--gateway-port', String(await freePort())])
  // `npm start` as typed in a shell: the npm on PATH without the node_modules/.bin that `npm run bench:system` put first.
  const PATH = (process.env.PATH ?? '').split(delimiter).filter((p) => !p.endsWith('node_modules/.bin')).join(delimiter)
  const started = performance.now()
  const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { ...process.env, PATH, BULWARK_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  const exited = new Promise((r) => child.on('exit', r))
  const stop = async () => {
    // Ctrl-C at the terminal signals the whole foreground group: npm, its shell and the supervisor (which stops the
    // components). Done when every process of the tree is gone (the home is deleted next); what is left after 20 s is killed.
    const tree = processTree(child.pid!)
    for (const pid of tree) if (!isComponent(pid, home)) signal(pid, 'SIGINT')
    const deadline = performance.now() + 20_000
    while (tree.some(alive) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    for (const pid of tree.filter(alive)) signal(pid, 'SIGKILL')
    await exited
  }
  try {
    while (!/Bulwark is ready/.test(output)) {
      if (child.exitCode !== null) throw new Error(`npm start exited:\n${output.slice(-3000)}`)
      if (performance.now() - started > 180_000) throw new Error('not ready in 180 s')
      await new Promise((r) => setTimeout(r, 20))
    }
    const coldStartMs = performance.now() - started
    await new Promise((r) => setTimeout(r, 2000))
    const ready = sample(child.pid!, home)
    const system = await attachSystem(home) as System
    let workload: WorkloadResult
    try {
      workload = await runWorkload(system, WORKLOAD)
    } finally {
      await system.stop()
    }
    const served = sample(child.pid!, home) // CPU used by the workload (the memory figures come after it settles)
    await new Promise((r) => setTimeout(r, 4000)) // let garbage settle
    // Six samples a second apart; the largest total counts (memory moves with each process's GC).
    let after: Sample = new Map()
    for (let i = 0; i < 6; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 1000))
      const now = sample(child.pid!, home)
      if (total(now) > total(after)) after = now
    }
    return { coldStartMs, ready, after, workload, cpuMs: total(served, 'cpuMs') - total(ready, 'cpuMs'), served }
  } finally {
    await stop()
  }
}

const results: RunResult[] = []
for (let i = 0; i < RUNS; i++) results.push(await once())
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0)
const worst = results.reduce((a, b) => (total(a.after) > total(b.after) ? a : b))

console.log(`bench/system — ${RUNS} cold starts of \`npm start\` (\`bulwark up --demo\`) on a fresh home, each followed by a workload of up to ${WORKLOAD.requests} requests`)
console.log('| metric | value | target | ratio to target |')
console.log('|---|---|---|---|')
for (const [i, r] of results.entries()) {
  const w = r.workload
  console.log(`| run #${i + 1}: cold start to ready | ${(r.coldStartMs / 1000).toFixed(2)} s | < 10 s | ${(r.coldStartMs / 10_000).toFixed(2)} |`)
  console.log(`| run #${i + 1}: workload | ${w.requests} requests (${w.logins} logins, ${w.failedLogins} failed) in ${w.seconds.toFixed(0)} s, ${(w.requests / w.seconds).toFixed(0)}/s, ${w.unexpected.length} unexpected answers | | |`)
  console.log(`| run #${i + 1}: CPU of the whole system per request (every process, logins included) | ${(r.cpuMs / w.requests).toFixed(2)} ms | | |`)
  console.log(`| run #${i + 1}: whole system at ready, sum of PSS | ${mb(total(r.ready))} MB | < 800 MB | ${(total(r.ready) / 2 ** 20 / 800).toFixed(2)} |`)
  console.log(`| run #${i + 1}: whole system after the workload, sum of PSS | ${mb(total(r.after))} MB | < 800 MB | ${(total(r.after) / 2 ** 20 / 800).toFixed(2)} |`)
}
console.log(`| per-process RSS summed after the workload, largest run (shared pages counted in every process) | ${mb(total(worst.after, 'rss'))} MB | < 800 MB | ${(total(worst.after, 'rss') / 2 ** 20 / 800).toFixed(2)} |`)
console.log(`| vs Keycloak pod budget (1,250 MB), by PSS / by summed RSS | | | ${(total(worst.after) / 2 ** 20 / 1250).toFixed(2)} / ${(total(worst.after, 'rss') / 2 ** 20 / 1250).toFixed(2)} |`)

console.log(`\nPer process, run #${results.indexOf(worst) + 1} (the largest after the workload):`)
console.log('| process | PSS at ready MB | PSS after MB | growth MB | of which anonymous (heaps) after MB | RSS after MB | CPU during the workload s |')
console.log('|---|---|---|---|---|---|---|')
const cpu = (name: string) => ((worst.served.get(name)?.cpuMs ?? 0) - (worst.ready.get(name)?.cpuMs ?? 0)) / 1000
for (const [name, m] of worst.after) {
  const before = worst.ready.get(name)
  console.log(`| ${name} | ${before ? mb(before.pss) : '–'} | ${mb(m.pss)} | ${before ? mb(m.pss - before.pss) : '–'} | ${mb(m.anon)} | ${mb(m.rss)} | ${cpu(name).toFixed(1)} |`)
}
console.log(`| total | ${mb(total(worst.ready))} | ${mb(total(worst.after))} | ${mb(total(worst.after) - total(worst.ready))} | ${mb(total(worst.after, 'anon'))} | ${mb(total(worst.after, 'rss'))} | ${(worst.cpuMs / 1000).toFixed(1)} |`)

console.log('\nAnswers by route (status: count), all runs:')
const routes = new Map<string, Map<number, number>>()
for (const r of results) for (const [route, counts] of r.workload.byRoute) for (const [status, n] of counts) {
  const into = routes.get(route) ?? new Map<number, number>()
  into.set(status, (into.get(status) ?? 0) + n)
  routes.set(route, into)
}
for (const [route, counts] of [...routes].sort()) console.log(`  ${route}: ${[...counts].map(([s, n]) => `${s}×${n}`).join(' ')}`)
const unexpected = results.flatMap((r) => r.workload.unexpected)
if (unexpected.length) {
  console.log(`\nunexpected answers (the workload did not run as intended):\n  ${unexpected.join('\n  ')}`)
  process.exitCode = 1
}
