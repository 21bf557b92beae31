// One supervised component process: forked with an IPC channel (the join
// token travels over it, never argv or env), its output prefixed line by
// line, and a promise that settles when it says ready or dies trying.
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import type { BootstrapMessage, ComponentMessage } from '@bulwark/core/base'

export type ChildHandle = {
  process: ChildProcess
  ready: Promise<string>
  exited: Promise<number | null>
}

/** The load hook that runs Bulwark's TypeScript from node_modules, with the strip cache (see @bulwark/sdk/register). */
export const STRIP_HOOK = fileURLToPath(import.meta.resolve('@bulwark/sdk/register'))

/** Environment a child inherits: ours minus anything that looks like a credential. */

/**
 * Memory settings for every component (bench/system: ~40 % less RSS together).
 * glibc gives each thread that calls malloc its own 64 MB arena and keeps what
 * it frees there; two arenas keep that in check. Blocks of 16 KiB and more (a
 * TLS connection's record buffers, socket reads, argon2's 19 MiB, Cedar's wasm
 * bytes) are mapped on their own and go back to the OS when freed: glibc never
 * returns a freed block below the heap's top, so with the threshold at 1 MiB
 * the buffers of start-up and of every connection a burst opened stayed held,
 * free, in each component (malloc_stats: 8 to 11 MiB per component; bench/system:
 * 85–100 MB less PSS for the whole system, shop services 81–88 MB after the
 * workload, now 66–69). The price is paid at start-up, when many such blocks
 * come and go: 1.5–2.9 s more CPU to ready for all components together (about
 * +15 %); per request it is lost in the noise. Two libuv threads match the
 * machine's two cores. Any of these set by the operator wins.
 */
const MEMORY_ENV: Record<string, string> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '16384', UV_THREADPOOL_SIZE: '2' }
/**
 * V8 settings for every component: the young generation capped at 1 MiB per
 * semi-space (default 16), so fewer pages are held between scavenges, and one
 * background V8 thread instead of four on a machine of two cores (less memory
 * per thread, and start-up does not contend with itself). bench/gateway runs
 * the gateway with the same flags.
 */
export const COMPONENT_V8_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1']

export function childEnvironment(cacheDir: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...MEMORY_ENV }
  if (cacheDir) {
    // Machine-level caches shared by every child and every start: V8's compiled code,
    // and type-stripped TypeScript (see strip-cache-hook.mjs). Neither holds a secret.
    if (!process.env.NODE_COMPILE_CACHE) env.NODE_COMPILE_CACHE = join(cacheDir, 'v8')
    env.BULWARK_STRIP_CACHE = join(cacheDir, 'stripped')
  }
  for (const [key, value] of Object.entries(process.env)) {
    if (/(SECRET|PASSWORD|TOKEN|PRIVATE|CREDENTIAL)/i.test(key)) continue
    // The database and Redis URLs reach components over IPC (the bootstrap), never the environment.
    if (STRIPPED.has(key)) continue
    // Any other URL with a password in it (`scheme://user:password@host`).
    if (value !== undefined && URL_WITH_PASSWORD.test(value)) continue
    env[key] = value
  }
  return env
}

/** Variables that carry connection URLs or point at password files. */
const STRIPPED = new Set(['BULWARK_DATABASE_URL', 'BULWARK_REDIS_URL', 'DATABASE_URL', 'REDIS_URL', 'PGPASSFILE', 'PGSERVICEFILE'])
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:[^/@\s]+@/i

/** Node flags of a component process: the memory flags, and the TypeScript load hook (it caches when caches are on). */
export function childExecArgv(_cacheDir?: string): string[] {
  return [...COMPONENT_V8_FLAGS, '--import', STRIP_HOOK]
}

export function startChild(entry: string, bootstrap: BootstrapMessage, write: (line: string) => void, options: { readyTimeoutMs?: number; cacheDir?: string } = {}): ChildHandle {
  const child = fork(entry, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: childEnvironment(options.cacheDir), execArgv: childExecArgv(options.cacheDir) })
  return superviseChild(child, bootstrap, write, options.readyTimeoutMs)
}

/** Prefixes a started child's output, sends it the bootstrap over IPC and settles `ready` on its answer or its death. */
export function superviseChild(child: ChildProcess, bootstrap: BootstrapMessage, write: (line: string) => void, readyTimeoutMs = 120_000): ChildHandle {
  const prefix = `[${bootstrap.component}${(bootstrap.replica ?? 1) > 1 ? `#${bootstrap.replica}` : ''}]`.padEnd(11)
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue
    createInterface({ input: stream }).on('line', (line) => write(`${prefix} ${line}`))
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${bootstrap.component} did not become ready within ${readyTimeoutMs / 1000} s`)), readyTimeoutMs)
    child.on('message', (message: ComponentMessage) => {
      if (message?.type === 'ready') { clearTimeout(timer); resolve(message.url) }
      if (message?.type === 'fatal') { clearTimeout(timer); reject(new Error(`${bootstrap.component}: ${message.message}`)) }
    })
    // A program that cannot be started at all (ENOENT, EACCES) never exits: it errors.
    child.once('error', (error) => { clearTimeout(timer); reject(new Error(`${bootstrap.component} could not start: ${error.message}`)) })
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`${bootstrap.component} exited with code ${code} before it was ready`)) })
  })
  ready.catch(() => {})
  child.send(bootstrap, (error) => { if (error) write(`${prefix} bootstrap not delivered: ${error.message}`) })
  return { process: child, ready, exited }
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves with the exit code. */
export async function stopChild(handle: ChildHandle, graceMs = 10_000): Promise<number | null> {
  if (handle.process.exitCode !== null || handle.process.signalCode !== null) return handle.process.exitCode
  handle.process.kill('SIGTERM')
  const timer = setTimeout(() => handle.process.kill('SIGKILL'), graceMs)
  const code = await handle.exited
  clearTimeout(timer)
  return code
}
