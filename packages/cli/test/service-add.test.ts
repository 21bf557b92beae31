// `bulwark service add`: what it writes, and what it refuses (exit 2, nothing written).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '@bulwark/testkit'
import { runCli } from './helpers.ts'

async function home() {
  const dir = tempDir()
  const path = join(dir.path, '.bulwark')
  const init = await runCli(['--home', path, 'init', '--base-port', '29601', '--gateway-port', '29443'])
  assert.equal(init.code, 0, init.stderr)
  return { dir, path, config: () => JSON.parse(readFileSync(join(path, 'config.json'), 'utf8')) }
}

test('service add declares the service on a free port, a gateway route to it and a starter policy, and says what to edit next', async () => {
  const h = await home()
  try {
    const run = await runCli(['--home', h.path, 'service', 'add', 'notes', '--route', '/api/notes', '--', 'node', 'server.ts'])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /added service `notes`/)
    assert.match(run.stdout, /next:/)
    assert.match(run.stdout, /bulwark up/)
    const config = h.config()
    assert.deepEqual(config.components.notes.command, ['node', 'server.ts'])
    assert.ok(config.components.notes.port >= 8621)
    assert.deepEqual(config.components.gateway.routes, [{ prefix: '/api/notes', service: 'notes', auth: 'required' }])
    assert.equal(config.components.policy.seedPoliciesDir, join(h.path, 'policies'))
    const policy = readFileSync(join(h.path, 'policies', 'notes.cedar'), 'utf8')
    assert.match(policy, /principal\.name == "gateway" && resource\.service == "notes"/)
    assert.ok(statSync(join(h.path, 'policies', 'segmentation.cedar')).isFile(), 'the folder holds the whole set')
    // The folder is a valid policy set for the packaged schema.
    const validate = await runCli(['--home', h.path, 'policy', 'validate', join(h.path, 'policies')])
    assert.equal(validate.code, 0, validate.stderr + validate.stdout)
    // A second service gets another port.
    const second = await runCli(['--home', h.path, 'service', 'add', 'todo', '--auth', 'optional', '--', 'node', 'todo.js'])
    assert.equal(second.code, 0, second.stderr)
    assert.notEqual(h.config().components.todo.port, config.components.notes.port)
    assert.deepEqual(h.config().components.gateway.routes[1], { prefix: '/api/todo', service: 'todo', auth: 'optional' })
  } finally {
    h.dir.remove()
  }
})

const refusals: Array<[string, string[], RegExp]> = [
  ['a bad name', ['Notes!', '--', 'node', 's.js'], /not a service name/],
  ['a platform name', ['gateway', '--', 'node', 's.js'], /platform component/],
  ['no command', ['notes'], /command is required/],
  ['a route into the platform', ['notes', '--route', '/oauth2/x', '--', 'node', 's.js'], /platform's/],
  ['--sidecar without --app-port', ['notes', '--sidecar', '--', 'python3', 'app.py'], /needs `--app-port N`/],
  ['an unknown auth mode', ['notes', '--auth', 'maybe', '--', 'node', 's.js'], /--auth/],
]
test('service add refuses bad input with exit 2 and writes nothing', async () => {
  const h = await home()
  try {
    const before = readFileSync(join(h.path, 'config.json'), 'utf8')
    for (const [what, args, message] of refusals) {
      const run = await runCli(['--home', h.path, 'service', 'add', ...args])
      assert.equal(run.code, 2, `${what}: ${run.stderr}`)
      assert.match(run.stderr, message, what)
      assert.equal(readFileSync(join(h.path, 'config.json'), 'utf8'), before, `${what}: nothing written`)
    }
    assert.equal((await runCli(['--home', h.path, 'service', 'add', 'notes', '--', 'node', 's.js'])).code, 0)
    const duplicate = await runCli(['--home', h.path, 'service', 'add', 'notes', '--', 'node', 's.js'])
    assert.equal(duplicate.code, 2)
    assert.match(duplicate.stderr, /`notes` already exists/)
  } finally {
    h.dir.remove()
  }
})

test('up refuses a credential in a service env and replicas on SQLite, before starting anything', async () => {
  const h = await home()
  try {
    const config = h.config()
    config.components.gateway.routes = []
    config.components.notes = { port: 29902, command: ['node', 's.js'], env: { LOG_LEVEL: 'info', STRIPE_API_KEY: 'x' }, replicas: 2 }
    const { writeFileSync } = await import('node:fs')
    writeFileSync(join(h.path, 'config.json'), JSON.stringify(config))
    const refused = await runCli(['--home', h.path, 'up'])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /\/components\/notes\/env\/STRIPE_API_KEY: looks like a credential/)
    assert.match(refused.stderr, /\/components\/notes\/replicas: replicas need PostgreSQL storage/, 'on SQLite a service runs as one process')
    assert.doesNotMatch(refused.stderr, /LOG_LEVEL/)
  } finally {
    h.dir.remove()
  }
})
