// docs/your-first-service.md, followed step by step in a project OUTSIDE this
// repository: the packages are `npm pack`ed, installed from those tarballs
// (their dependencies from the npm cache this repository's install filled:
// `npm ci --offline`, no network), then `npx bulwark init`, `service add`,
// `up --demo` and one request through the gateway with a token. The only test
// of its kind: it packs, installs and starts a whole platform (~40 s).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import { Agent, request } from 'undici'
import { freePortBlock } from '@bulwark/testkit'

const ROOT = resolve(import.meta.dirname, '../..')
const PACKAGES = ['core', 'sdk', 'ca', 'audit', 'gateway', 'identity', 'policy', 'vault', 'console', 'sidecar', 'cli']
// The pinned Node 24 first on PATH: `npx bulwark` and `npm` run on it, as they would on a user's machine with Node 24.
const ENV = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`, BULWARK_HOME: '', npm_config_update_notifier: 'false' }

function sh(cwd: string, command: string, args: string[], timeoutMs = 120_000): string {
  const result = spawnSync(command, args, { cwd, env: ENV, encoding: 'utf8', timeout: timeoutMs })
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

/**
 * The project's package-lock.json: the tarballs, and every runtime dependency
 * exactly as this repository's lock pins it (integrity included), so
 * `npm ci --offline` takes them from the npm cache without registry metadata.
 */
function writeLock(project: string, tarballs: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> }
  const deps: Record<string, string> = {}
  const entries: Record<string, unknown> = {}
  for (const file of readdirSync(tarballs)) {
    const dir = PACKAGES.find((p) => file === `bulwark-${p}-0.1.0.tgz`)
    if (!dir) continue
    const pkg = JSON.parse(readFileSync(join(ROOT, 'packages', dir, 'package.json'), 'utf8'))
    const spec = `file:${join(tarballs, file)}`
    deps[pkg.name] = spec
    entries[`node_modules/${pkg.name}`] = {
      version: pkg.version, resolved: spec, license: pkg.license, dependencies: pkg.dependencies, engines: pkg.engines, ...(pkg.bin ? { bin: pkg.bin } : {}),
      integrity: `sha512-${createHash('sha512').update(readFileSync(join(tarballs, file))).digest('base64')}`,
    }
  }
  for (const [key, value] of Object.entries(lock.packages)) {
    if (key.startsWith('node_modules/') && !key.startsWith('node_modules/@bulwark/') && !value.dev && !value.link) entries[key] = value
  }
  const manifest = { name: 'my-project', version: '1.0.0', private: true, type: 'module', dependencies: deps }
  writeFileSync(join(project, 'package.json'), JSON.stringify(manifest, null, 2))
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ ...manifest, lockfileVersion: 3, requires: true, packages: { '': { name: manifest.name, version: manifest.version, dependencies: deps }, ...entries } }, null, 2))
}

// A service in another language: Python's standard library only, answering with what the sidecar told it.
const PYTHON_APP = `import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        seen = {k: self.headers.get('X-Bulwark-' + k.capitalize()) for k in ('subject', 'client', 'roles', 'caller')}
        body = json.dumps({**seen, 'path': self.path}).encode()
        self.send_response(200)
        self.send_header('content-type', 'application/json')
        self.send_header('content-length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

HTTPServer(('127.0.0.1', int(os.environ['BULWARK_APP_PORT'])), Handler).serve_forever()
`

// The walkthrough's service, verbatim from docs/your-first-service.md.
function serviceSource(): string {
  const doc = readFileSync(join(ROOT, 'docs', 'your-first-service.md'), 'utf8')
  const match = /```ts title="notes\.ts"\n([\s\S]*?)```/.exec(doc)
  assert.ok(match, 'docs/your-first-service.md shows notes.ts')
  return match[1]!
}

test('a project outside the repository installs the packed packages, adds a TypeScript service and a Python service behind the sidecar, and gets answers through the gateway with a token', { timeout: 300_000 }, async (t) => {
  const started = Date.now()
  const work = mkdtempSync(join(tmpdir(), 'bulwark-installed-'))
  const running: { up?: ChildProcess } = {}
  t.after(async () => {
    const up = running.up
    if (up && up.exitCode === null) {
      up.kill('SIGTERM')
      await new Promise((r) => up.once('exit', r))
    }
    rmSync(work, { recursive: true, force: true })
  })
  const tarballs = join(work, 'tarballs')
  const project = join(work, 'my-project')
  mkdirSync(tarballs)
  mkdirSync(project)
  sh(ROOT, 'npm', ['pack', '--silent', '--pack-destination', tarballs, ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`])])
  writeLock(project, tarballs)
  sh(project, 'npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], 180_000)
  t.diagnostic(`packed and installed in ${((Date.now() - started) / 1000).toFixed(1)} s`)

  // gateway, ten components, catalog's gRPC port, notes, and legacy with its app's port.
  const base = await freePortBlock(15)
  writeFileSync(join(project, 'notes.ts'), serviceSource())
  writeFileSync(join(project, 'app.py'), PYTHON_APP)
  sh(project, 'npx', ['bulwark', 'init', '--gateway-port', String(base), '--base-port', String(base + 1)])
  const added = sh(project, 'npx', ['bulwark', 'service', 'add', 'notes', '--route', '/api/notes', '--port', String(base + 12), '--', 'node', 'notes.ts'])
  assert.match(added, /added service `notes`/)
  const legacy = sh(project, 'npx', ['bulwark', 'service', 'add', 'legacy', '--route', '/api/legacy', '--port', String(base + 13), '--sidecar', '--app-port', String(base + 14), '--', 'python3', 'app.py'])
  assert.match(legacy, /added service `legacy`/)

  // `npx bulwark up --demo`, started as the bin npx would run, so that stopping it reaches the supervisor itself.
  const up = running.up = spawn(process.execPath, [join(project, 'node_modules', '.bin', 'bulwark'), 'up', '--demo'], { cwd: project, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  up.stdout!.on('data', (d) => { output += d })
  up.stderr!.on('data', (d) => { output += d })
  const deadline = Date.now() + 120_000
  await new Promise<void>((resolveReady, reject) => {
    const timer = setInterval(() => {
      if (Date.now() > deadline) { clearInterval(timer); reject(new Error(`bulwark up not ready in 120 s:\n${output.slice(-4000)}`)) }
      if (/Bulwark is ready/.test(output)) { clearInterval(timer); resolveReady() }
      if (up.exitCode !== null) { clearInterval(timer); reject(new Error(`bulwark up exited:\n${output.slice(-4000)}`)) }
    }, 200)
  })
  assert.match(output, /components: ca, audit, policy, vault, identity, console, gateway, notes, legacy\n/, 'the platform and the two services, no demo shop')
  assert.doesNotMatch(output, /ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING|ExperimentalWarning/)

  const status = JSON.parse(sh(project, 'npx', ['bulwark', 'status', '--json'])) as { ready: boolean; components: Array<{ name: string; healthy: boolean; spiffeId: string }> }
  assert.equal(status.ready, true)
  assert.deepEqual(status.components.find((c) => c.name === 'notes'), { ...status.components.find((c) => c.name === 'notes'), healthy: true, spiffeId: 'spiffe://bulwark.local/svc/notes' })

  const gateway = `https://localhost:${base}`
  const dispatcher = new Agent({ connect: { ca: readFileSync(join(project, '.bulwark', 'ca', 'root.crt'), 'utf8') } })
  const call = async (path: string, init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {}) => {
    const res = await request(`${gateway}${path}`, { dispatcher, ...init })
    return { status: res.statusCode, body: await res.body.json() as Record<string, unknown> }
  }
  const creds = JSON.parse(readFileSync(join(project, '.bulwark', 'demo-credentials.json'), 'utf8')) as { clients: Array<{ clientId: string; clientSecret?: string }> }
  const job = creds.clients.find((c) => c.clientId === 'reporting-job')!
  const token = await call('/oauth2/token', {
    method: 'POST', body: 'grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${job.clientId}:${job.clientSecret}`).toString('base64')}` },
  })
  assert.equal(token.status, 200, JSON.stringify(token.body))

  const anonymous = await call('/api/notes/hello')
  assert.equal(anonymous.status, 401, 'no token, no answer')
  const answered = await call('/api/notes/hello', { headers: { authorization: `Bearer ${String(token.body.access_token)}` } })
  assert.equal(answered.status, 200, JSON.stringify(answered.body))
  assert.deepEqual(answered.body, { hello: 'reporting-job', via: 'gateway' })

  // The Python app behind the sidecar sees the verified caller, never one a client made up.
  assert.equal((await call('/api/legacy/hello')).status, 401, 'no token, no answer from the app')
  const python = await call('/api/legacy/hello', { headers: { authorization: `Bearer ${String(token.body.access_token)}`, 'x-bulwark-subject': 'admin', 'x-bulwark-roles': 'admin' } })
  assert.equal(python.status, 200, JSON.stringify(python.body))
  assert.equal(python.body.client, 'reporting-job')
  assert.notEqual(python.body.subject, 'admin', 'a forged X-Bulwark-Subject is stripped')
  assert.notEqual(python.body.roles, 'admin', 'a forged X-Bulwark-Roles is stripped')
  assert.equal(python.body.caller, 'gateway')
  assert.match(String(python.body.path), /\/hello$/)
  await dispatcher.close()
  t.diagnostic(`whole walkthrough in ${((Date.now() - started) / 1000).toFixed(1)} s`)
})
