// The reference proxies, configured from the templates in ./peers (nginx: bare reverse proxy;
// HAProxy: TLS + jwt_verify + stick-table rate limit), Debian's packages,
// installed with apt-get when missing, started on loopback, stopped after.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'

// Kept in the repository so the benchmark stands on its own.
const TEMPLATES = [new URL('./peers', import.meta.url).pathname]

export function templateDir(): string | undefined {
  return TEMPLATES.find((dir) => existsSync(join(dir, 'nginx-proxy.conf.template')))
}

export function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

/** apt-get install what is missing (root only, bounded); returns what is available afterwards. */
export function ensureInstalled(packages: Record<string, string>): Record<string, boolean> {
  const missing = Object.entries(packages).filter(([command]) => !has(command)).map(([, pkg]) => pkg)
  if (missing.length > 0 && process.getuid?.() === 0 && has('apt-get') && !process.env.BENCH_NO_INSTALL) {
    process.stdout.write(`installing ${missing.join(' ')} with apt-get…\n`)
    spawnSync('apt-get', ['install', '-y', ...missing], { stdio: 'ignore', timeout: 240_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  }
  return Object.fromEntries(Object.keys(packages).map((command) => [command, has(command)]))
}

/** Fills every `@NAME@` outside comment lines; a placeholder without a value is an error. */
function fill(template: string, values: Record<string, string | number>): string {
  return template.split('\n').map((line) => /^\s*#/.test(line) ? line : line.replace(/@([A-Z0-9_]+)@/g, (match, name: string) => {
    if (!(name in values)) throw new TypeError(`template placeholder ${match} has no value`)
    return String(values[name])
  })).join('\n')
}

async function waitForPort(port: number, child: ChildProcess, seconds = 10): Promise<void> {
  const end = Date.now() + seconds * 1000
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`peer exited with ${child.exitCode}`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => { socket.destroy(); resolve(true) })
      socket.on('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`peer did not listen on ${port}`)
}

export type Peer = { tlsPort: number; pid: number; stop(): Promise<void> }

async function run(command: string, args: string[], tlsPort: number, log: string): Promise<Peer> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let errors = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { errors += chunk })
  try {
    await waitForPort(tlsPort, child)
  } catch (error) {
    child.kill('SIGKILL')
    throw new Error(`${command}: ${(error as Error).message}: ${errors.slice(0, 500)} ${existsSync(log) ? readFileSync(log, 'utf8').slice(-500) : ''}`)
  }
  return {
    tlsPort,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return
      const closed = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))])
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}

export async function startNginx(dir: string, values: { httpPort: number; tlsPort: number; upstream: string; cert: string; key: string }): Promise<Peer> {
  const runDir = join(dir, 'nginx')
  mkdirSync(runDir, { recursive: true, mode: 0o755 })
  const conf = fill(readFileSync(join(templateDir()!, 'nginx-proxy.conf.template'), 'utf8'), {
    RUN_DIR: runDir, UPSTREAM_HOST_PORT: values.upstream, HTTP_PORT: values.httpPort, TLS_PORT: values.tlsPort, TLS_CERT: values.cert, TLS_KEY: values.key,
  })
  writeFileSync(join(runDir, 'nginx.conf'), conf)
  return run('nginx', ['-p', runDir, '-c', join(runDir, 'nginx.conf'), '-g', 'daemon off;'], values.tlsPort, join(runDir, 'nginx-error.log'))
}

export async function startHaproxy(dir: string, values: { httpPort: number; tlsPort: number; upstream: string; pem: string; alg: string; issuer: string; audience: string; publicKey: string; ratePer10s: number }): Promise<Peer> {
  const conf = fill(readFileSync(join(templateDir()!, 'haproxy-jwt.cfg.template'), 'utf8'), {
    HTTP_PORT: values.httpPort, TLS_PORT: values.tlsPort, TLS_PEM: values.pem, ALG: values.alg, ISSUER: values.issuer,
    AUDIENCE: values.audience, JWT_PUBLIC_KEY_PEM: values.publicKey, RATE_LIMIT_PER_10S: values.ratePer10s, UPSTREAM_HOST_PORT: values.upstream,
  })
  const file = join(dir, 'haproxy.cfg')
  writeFileSync(file, conf)
  return run('haproxy', ['-f', file, '-db'], values.tlsPort, file)
}

/** CPU seconds (user + system) used so far by a process and its children processes' live threads (Linux /proc). */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0
  const all = new Set<number>(pids)
  for (const pid of pids) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) all.add(Number(child))
    } catch { /* no /proc: 0 */ }
  }
  for (const pid of all) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch { /* gone */ }
  }
  return ticks / 100
}
