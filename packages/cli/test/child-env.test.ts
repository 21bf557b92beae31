import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { childEnvironment, childExecArgv, COMPONENT_V8_FLAGS, STRIP_HOOK } from '../src/supervisor/child.ts'

function withEnv(vars: Record<string, string>, fn: () => void) {
  const saved = { ...process.env }
  Object.assign(process.env, vars)
  try { fn() } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key]
    Object.assign(process.env, saved)
  }
}

test('a component inherits no variable that looks like a credential (the join token travels over IPC only)', () => {
  withEnv({ BULWARK_JOIN_TOKEN: 'jt', DB_PASSWORD: 'p', AWS_SECRET_ACCESS_KEY: 's', GH_PRIVATE_KEY: 'k', SOME_CREDENTIALS: 'c', KEEP_ME: '1' }, () => {
    const env = childEnvironment('/tmp/cache')
    for (const name of ['BULWARK_JOIN_TOKEN', 'DB_PASSWORD', 'AWS_SECRET_ACCESS_KEY', 'GH_PRIVATE_KEY', 'SOME_CREDENTIALS']) assert.equal(env[name], undefined, name)
    assert.equal(env.KEEP_ME, '1')
    assert.equal(env.PATH, process.env.PATH)
    assert.equal(env.BULWARK_STRIP_CACHE, '/tmp/cache/stripped')
  })
})

test('memory settings apply unless the operator set them; the V8 flags and cache hook go on every child', () => {
  withEnv({ UV_THREADPOOL_SIZE: '8' }, () => {
    delete process.env.MALLOC_ARENA_MAX
    const env = childEnvironment(undefined)
    assert.equal(env.MALLOC_ARENA_MAX, '2')
    assert.equal(env.UV_THREADPOOL_SIZE, '8', 'the operator\'s value wins')
  })
  // The load hook goes on every child, caches or not: installed packages are TypeScript under node_modules.
  assert.deepEqual(childExecArgv(undefined), [...COMPONENT_V8_FLAGS, '--import', STRIP_HOOK])
  assert.deepEqual(childExecArgv('/tmp/cache').slice(0, COMPONENT_V8_FLAGS.length), COMPONENT_V8_FLAGS)
  assert.equal(childExecArgv('/tmp/cache').at(-2), '--import')
})

test('the database and Redis URLs, and any URL with a password, never reach a component\'s environment (they travel in the bootstrap)', () => {
  withEnv({
    BULWARK_DATABASE_URL: 'postgres://bulwark:pw@db:5432/bulwark', BULWARK_REDIS_URL: 'redis://cache:6379/0', DATABASE_URL: 'postgres://db/x',
    PGPASSFILE: '/home/op/.pgpass', SOME_DSN: 'mysql://root:hunter2@db/x', PLAIN_URL: 'https://example.com/a@b', KEEP_ME: '1',
  }, () => {
    const env = childEnvironment(undefined)
    for (const name of ['BULWARK_DATABASE_URL', 'BULWARK_REDIS_URL', 'DATABASE_URL', 'PGPASSFILE', 'SOME_DSN']) assert.equal(env[name], undefined, name)
    assert.equal(env.PLAIN_URL, 'https://example.com/a@b', 'a URL without credentials is kept')
    assert.equal(env.KEEP_ME, '1')
  })
})

// A component's connections come and go: the memory of those that closed must go back to the OS, not stay held
// by malloc between blocks still in use. 1,000 blocks of 24 KiB (a TLS connection's record buffers are about
// that size) interleaved with small ones that live on; then the big ones are freed.
const FRAGMENTS = `
const anon = () => Number(/^Pss_Anon:\\s+(\\d+)/m.exec(require('node:fs').readFileSync('/proc/self/smaps_rollup', 'utf8'))[1]) / 1024
let big = []
const small = []
for (let i = 0; i < 1000; i++) { big.push(Buffer.alloc(24 * 1024, 1)); small.push(Buffer.allocUnsafeSlow(64).fill(2)) }
const held = anon()
big = undefined
for (let i = 0; i < 3; i++) globalThis.gc()
setTimeout(() => { globalThis.gc(); console.log(JSON.stringify({ held, after: anon(), small: small.length })) }, 200)
`

test('a component gives the memory of freed buffers back to the OS (connections that closed do not stay resident)', { skip: !existsSync('/proc/self/smaps_rollup') && 'Linux only (glibc, /proc)' }, () => {
  const saved = process.env.MALLOC_MMAP_THRESHOLD_
  delete process.env.MALLOC_MMAP_THRESHOLD_
  try {
    const run = spawnSync(process.execPath, ['--expose-gc', '-e', FRAGMENTS], { env: childEnvironment(undefined), encoding: 'utf8' })
    assert.equal(run.status, 0, run.stderr)
    const { held, after } = JSON.parse(run.stdout) as { held: number; after: number }
    assert.ok(held - after > 20, `freed 24 MiB of buffers, but resident memory only went from ${held.toFixed(1)} to ${after.toFixed(1)} MiB`)
  } finally {
    if (saved !== undefined) process.env.MALLOC_MMAP_THRESHOLD_ = saved
  }
})
