// The platform as a user sees it: either a running instance found through its
// home, or one started the way a user does (`bulwark up --demo`) in a throwaway
// home on free loopback ports. Gives the gateway URL, the trust anchor, the
// demo credentials and the CLI. Used by the e2e tests and `npm run demo`.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Agent, fetch as undiciFetch, type RequestInit } from 'undici'
import { freePort, freePortBlock, tempDir } from '@bulwark/testkit'
import { gatewayUrl, loadConfig, PlatformConfigSchema, type PlatformConfig } from '@bulwark/core'

export const CLI_MAIN = fileURLToPath(new URL('../../packages/cli/src/main.ts', import.meta.url))

export type DemoCredentials = {
  users: Array<{ username: string; password: string; roles: string[]; totpSecret?: string }>
  clients: Array<{ clientId: string; clientSecret?: string; public: boolean; redirectUris: string[]; scopes: string[] }>
}

export type System = {
  home: string
  gateway: string
  rootPem: string
  dispatcher: Agent
  creds: DemoCredentials
  output(): string
  fetch(path: string, init?: RequestInit): Promise<Response>
  cli(args: string[], timeoutMs?: number): Promise<{ code: number | null; stdout: string; stderr: string }>
  stop(): Promise<number | null>
}

export async function runCli(home: string, args: string[], timeoutMs = 60_000, input?: string, env?: Record<string, string>) {
  return await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, '--home', home, ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d) => { stdout += d })
    child.stderr!.on('data', (d) => { stderr += d })
    if (input !== undefined) child.stdin!.end(input)
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`bulwark ${args.join(' ')} timed out`)) }, timeoutMs)
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

/**
 * `env`: extra environment for `bulwark up` and every CLI call (e.g. BULWARK_DATABASE_URL);
 * `configure`: edits config.json after `init` (replicas, ports).
 */
export async function startSystem(options: { demo?: boolean; readyTimeoutMs?: number; env?: Record<string, string>; configure?: (config: PlatformConfig) => void } = {}): Promise<System> {
  const dir = tempDir('bulwark-e2e-')
  const home = `${dir.path}/home`
  const basePort = await freePortBlock(10)
  const gatewayPort = await freePort()
  const init = await runCli(home, ['init', '--base-port', String(basePort), '--gateway-port', String(gatewayPort)])
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`)
  if (options.configure) {
    const config = JSON.parse(readFileSync(`${home}/config.json`, 'utf8')) as PlatformConfig
    options.configure(config)
    writeFileSync(`${home}/config.json`, JSON.stringify(config, null, 2))
  }
  const env = options.env ? { ...process.env, ...options.env } : process.env
  const child: ChildProcess = spawn(process.execPath, [CLI_MAIN, '--home', home, 'up', ...(options.demo === false ? [] : ['--demo'])], { stdio: ['ignore', 'pipe', 'pipe'], env })
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const deadline = Date.now() + (options.readyTimeoutMs ?? 300_000)
  while (!/Bulwark is ready/.test(output)) {
    if (child.exitCode !== null) throw new Error(`bulwark up exited ${child.exitCode}:\n${output.slice(-4000)}`)
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`bulwark up not ready in time:\n${output.slice(-4000)}`) }
    await new Promise((r) => setTimeout(r, 200))
  }
  const rootPem = readFileSync(`${home}/ca/root.crt`, 'utf8')
  const dispatcher = new Agent({ connect: { ca: rootPem }, connections: 16 })
  const gateway = `https://localhost:${gatewayPort}`
  let creds: DemoCredentials = { users: [], clients: [] }
  try { creds = JSON.parse(readFileSync(`${home}/demo-credentials.json`, 'utf8')) } catch { /* not a demo run */ }
  return {
    home, gateway, rootPem, dispatcher, creds,
    output: () => output,
    fetch: (path, init = {}) => undiciFetch(new URL(path, gateway), { ...init, dispatcher }) as unknown as Promise<Response>,
    cli: (args, timeoutMs) => runCli(home, args, timeoutMs, undefined, options.env),
    async stop() {
      // BULWARK_E2E_LOG=<dir> keeps every run's full output for post-mortems.
      if (process.env.BULWARK_E2E_LOG) {
        const { writeFileSync, mkdirSync } = await import('node:fs')
        mkdirSync(process.env.BULWARK_E2E_LOG, { recursive: true })
        writeFileSync(`${process.env.BULWARK_E2E_LOG}/up-${gatewayPort}.log`, output)
      }
      if (child.exitCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      const code = await exit
      clearTimeout(timer)
      await dispatcher.close()
      dir.remove()
      return code
    },
  }
}

/** Attaches to an instance already running for `home` (e.g. `npm start`); undefined when none answers. */
export async function attachSystem(home: string): Promise<System | undefined> {
  let config: PlatformConfig
  try { config = loadConfig(PlatformConfigSchema, { file: `${home}/config.json` }) as PlatformConfig } catch { return undefined }
  const status = await runCli(home, ['status', '--json'])
  if (status.code !== 0) return undefined
  const rootPem = readFileSync(`${home}/ca/root.crt`, 'utf8')
  const dispatcher = new Agent({ connect: { ca: rootPem }, connections: 16 })
  const gateway = gatewayUrl(config)
  let creds: DemoCredentials = { users: [], clients: [] }
  try { creds = JSON.parse(readFileSync(`${home}/demo-credentials.json`, 'utf8')) } catch { return undefined }
  return {
    home, gateway, rootPem, dispatcher, creds,
    output: () => '',
    fetch: (path, init = {}) => undiciFetch(new URL(path, gateway), { ...init, dispatcher }) as unknown as Promise<Response>,
    cli: (args, timeoutMs) => runCli(home, args, timeoutMs),
    async stop() { await dispatcher.close(); return 0 },
  }
}
