// bench/system: cold start of the whole platform with the demo shop
// (`bulwark up --demo` on a fresh home) to the ready line, and the resident
// memory of every process together once it is ready and has served a short
// real workload (sign-in, card, order, reads): the sum of PSS (what the system
// holds, pages shared between processes such as the node binary's counted
// once) and the plain sum of per-process RSS (which counts those shared pages
// once per process).
// Targets: ready < 10 s; < 800 MB RSS in total (Keycloak's sizing guide
// budgets 1,250 MB for one Keycloak pod alone).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { freePort, freePortBlock, tempDir } from '@bulwark/testkit'
import { attachSystem, type System } from '../../scripts/lib/system.ts'
import { discover, loginWithPkce } from '../../scripts/lib/oidc-driver.ts'

const CLI = fileURLToPath(new URL('../../packages/cli/src/main.ts', import.meta.url))
/** The supervisor runs as `npm start` runs it: with the node flags of package.json's start script. */
const startScript = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts.start.split(' ')
const SUPERVISOR_FLAGS = startScript.slice(1, startScript.findIndex((arg, i) => i > 0 && !arg.startsWith('--')))
const RUNS = Number(process.env.BENCH_SYSTEM_RUNS ?? 2)

type Memory = { rss: number; pss: number }

/** Resident memory of one process: RSS, and PSS (each shared page divided among the processes that map it). */
function memoryOf(pid: number): Memory {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
    const kb = (match: RegExpExecArray | null) => Number(match?.[1] ?? 0) * 1024
    return { rss: kb(/^Rss:\s+(\d+) kB/m.exec(rollup)), pss: kb(/^Pss:\s+(\d+) kB/m.exec(rollup)) }
  } catch {
    return { rss: 0, pss: 0 }
  }
}

async function run(cmd: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, cmd, { stdio: 'ignore' })
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd.join(' ')} exited ${code}`))))
  })
}

/** A short real workload through the gateway, so memory is measured on a system that has worked: alice signs in
 * (authorization code + PKCE, argon2id), adds a card (vault transit), places an order (token exchange to payments),
 * and reads the catalog and her orders a few dozen times. */
async function serveALittle(home: string): Promise<void> {
  const system = await attachSystem(home) as System
  try {
    const alice = system.creds.users.find((u) => u.username === 'alice')!
    const shopCli = await discover(system, 'shop-cli')
    const scope = system.creds.clients.find((c) => c.clientId === 'shop-cli')!.scopes.join(' ')
    const token = (await loginWithPkce(system, shopCli, alice, scope)).tokens.access_token
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await system.fetch(path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined })
      if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status}`)
      return await res.json() as Record<string, unknown> & { items?: Array<{ id: string }> }
    }
    const products = await call('GET', '/api/catalog/products')
    const card = await call('POST', '/api/payments/methods', { cardNumber: '4242424242424242', expMonth: 12, expYear: new Date().getFullYear() + 2, cvc: '123' })
    await call('POST', '/api/orders', { items: [{ productId: products.items![0]!.id, quantity: 1 }], paymentMethodId: card.id })
    for (let i = 0; i < 30; i++) await Promise.all([call('GET', '/api/catalog/products'), call('GET', '/api/orders'), call('GET', '/api/users/me')])
  } finally {
    await system.stop()
  }
}

async function once(): Promise<{ coldStartMs: number; memory: Map<string, Memory> }> {
  using dir = tempDir('bulwark-bench-system-')
  const home = `${dir.path}/home`
  await run([CLI, '--home', home, 'init', '--base-port', String(await freePortBlock(10)), '--gateway-port', String(await freePort())])
  const started = performance.now()
  const child = spawn(process.execPath, [...SUPERVISOR_FLAGS, CLI, '--home', home, 'up', '--demo'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  while (!/Bulwark is ready/.test(output)) {
    if (child.exitCode !== null) throw new Error(`up exited:\n${output.slice(-3000)}`)
    if (performance.now() - started > 180_000) { child.kill('SIGKILL'); throw new Error('not ready in 180 s') }
    await new Promise((r) => setTimeout(r, 20))
  }
  const coldStartMs = performance.now() - started
  await serveALittle(home)
  await new Promise((r) => setTimeout(r, 4000)) // let garbage settle
  const state = JSON.parse(readFileSync(`${home}/run/state.json`, 'utf8')) as { supervisorPid: number; components: Array<{ name: string; pid: number }> }
  // Four samples a second apart; the largest total counts (memory moves with each process's GC).
  let memory = new Map<string, Memory>()
  for (let sample = 0; sample < 4; sample++) {
    if (sample > 0) await new Promise((r) => setTimeout(r, 1000))
    const now = new Map<string, Memory>([['supervisor', memoryOf(state.supervisorPid)]])
    for (const c of state.components) now.set(c.name, memoryOf(c.pid))
    const pss = (m: Map<string, Memory>) => [...m.values()].reduce((a, b) => a + b.pss, 0)
    if (pss(now) > pss(memory)) memory = now
  }
  child.kill('SIGTERM')
  await new Promise((r) => child.on('exit', r))
  return { coldStartMs, memory }
}

const results = []
for (let i = 0; i < RUNS; i++) results.push(await once())
const best = results.reduce((a, b) => (a.coldStartMs < b.coldStartMs ? a : b))
const mb = (bytes: number) => bytes / 1024 / 1024
const totalRss = [...best.memory.values()].reduce((a, b) => a + b.rss, 0)
const totalPss = [...best.memory.values()].reduce((a, b) => a + b.pss, 0)

console.log(`bench/system — ${RUNS} cold starts of \`bulwark up --demo\` on a fresh home (${best.memory.size - 1} components)`)
console.log('| metric | value | target | ratio to target |')
console.log('|---|---|---|---|')
for (const [i, r] of results.entries()) console.log(`| cold start #${i + 1} to ready | ${(r.coldStartMs / 1000).toFixed(2)} s | < 10 s | ${(r.coldStartMs / 10_000).toFixed(2)} |`)
console.log(`| resident memory of the whole system (shared pages once: sum of PSS) | ${mb(totalPss).toFixed(0)} MB | < 800 MB | ${(mb(totalPss) / 800).toFixed(2)} |`)
console.log(`| per-process RSS summed (the node binary's shared pages counted in every process) | ${mb(totalRss).toFixed(0)} MB | < 800 MB | ${(mb(totalRss) / 800).toFixed(2)} |`)
console.log(`| vs Keycloak pod budget (1,250 MB), by PSS / by summed RSS | | | ${(mb(totalPss) / 1250).toFixed(2)} / ${(mb(totalRss) / 1250).toFixed(2)} |`)
console.log('\n| process | RSS MB | PSS MB |')
console.log('|---|---|---|')
for (const [name, m] of best.memory) console.log(`| ${name} | ${mb(m.rss).toFixed(0)} | ${mb(m.pss).toFixed(0)} |`)
