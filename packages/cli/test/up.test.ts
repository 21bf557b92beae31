import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { freePort, freePortBlock, tempDir } from '@bulwark/testkit'
import { CLI_MAIN, runCli } from './helpers.ts'

type Status = { ready: boolean; gateway: string; issuer: string; components: Array<{ name: string; url: string; spiffeId: string; healthy: boolean; pid: number | null }> }

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

function startUp(home: string): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI_MAIN, '--home', home, 'up'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, output: () => output, exit }
}

test('up starts every component, status reports them, a killed child is restarted, SIGTERM stops cleanly', { timeout: 180_000 }, async (t) => {
  const dir = tempDir()
  t.after(dir.remove)
  const home = `${dir.path}/home`
  const basePort = await freePortBlock(10)
  const gatewayPort = await freePort()
  const init = await runCli(['--home', home, 'init', '--base-port', String(basePort), '--gateway-port', String(gatewayPort)])
  assert.equal(init.code, 0, init.stderr)

  const up = startUp(home)
  t.after(() => { if (up.child.exitCode === null) up.child.kill('SIGKILL') })
  await waitFor('the ready line', async () => (/Bulwark is ready/.test(up.output()) ? true : (up.child.exitCode !== null ? (() => { throw new Error(up.output()) })() : undefined)), 90_000)
  assert.match(up.output(), new RegExp(`gateway https://localhost:${gatewayPort}`))

  const first = await runCli(['--home', home, 'status', '--json'])
  assert.equal(first.code, 0, first.stdout + first.stderr)
  const status = JSON.parse(first.stdout) as Status
  assert.equal(status.ready, true)
  assert.equal(status.gateway, `https://localhost:${gatewayPort}`)
  assert.equal(status.issuer, status.gateway)
  const names = status.components.map((c) => c.name)
  assert.ok(names.includes('ca'), `components: ${names.join(',')}`)
  for (const c of status.components) {
    assert.equal(c.healthy, true, `${c.name} healthy`)
    assert.equal(c.spiffeId, `spiffe://bulwark.local/svc/${c.name}`)
    assert.ok(Number.isInteger(c.pid))
    assert.deepEqual(Object.keys(c).sort(), ['healthy', 'name', 'pid', 'spiffeId', 'url'])
  }

  // Kill a component that must rejoin with a fresh join token (anything but the CA).
  const victim = status.components.find((c) => c.name !== 'ca' && c.name !== 'gateway') ?? status.components[0]!
  process.kill(victim.pid!, 'SIGKILL')
  const recovered = await waitFor('the killed child to be healthy again', async () => {
    const res = await runCli(['--home', home, 'status', '--json'])
    if (res.code !== 0) return undefined
    const s = JSON.parse(res.stdout) as Status
    const again = s.components.find((c) => c.name === victim.name)!
    return again.healthy && again.pid !== victim.pid ? again : undefined
  }, 60_000)
  assert.notEqual(recovered.pid, victim.pid)
  assert.match(up.output(), new RegExp(`${victim.name} exited`))

  const beforeStop = JSON.parse((await runCli(['--home', home, 'status', '--json'])).stdout) as Status
  up.child.kill('SIGTERM')
  const code = await up.exit
  assert.equal(code, 0, up.output().slice(-2000))
  const state = JSON.parse(readFileSync(`${home}/run/state.json`, 'utf8')) as { components: Array<{ state: string; pid: number | null }> }
  assert.ok(state.components.every((c) => c.state === 'stopped' && c.pid === null))
  for (const c of beforeStop.components) {
    assert.throws(() => process.kill(c.pid!, 0), /ESRCH/, `${c.name} (pid ${c.pid}) must be gone`)
  }
  const after = await runCli(['--home', home, 'status', '--json'])
  assert.equal(after.code, 1)
  assert.equal((JSON.parse(after.stdout) as Status).ready, false)
})

test('up refuses a port that is already in use, with a message naming it, and leaves nothing running', { timeout: 120_000 }, async (t) => {
  const dir = tempDir()
  t.after(dir.remove)
  const home = `${dir.path}/home`
  const basePort = await freePortBlock(10)
  const init = await runCli(['--home', home, 'init', '--base-port', String(basePort), '--gateway-port', String(await freePort())])
  assert.equal(init.code, 0, init.stderr)
  const { createServer } = await import('node:net')
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(basePort, '127.0.0.1', resolve)) // the CA's port
  t.after(() => blocker.close())
  const up = startUp(home)
  const code = await up.exit
  assert.equal(code, 1)
  assert.match(up.output(), new RegExp(`port ${basePort} on 127.0.0.1 is already in use`))
})
