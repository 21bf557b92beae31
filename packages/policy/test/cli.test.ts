// `bulwark policy …` as an operator runs it: the real CLI in a child process,
// offline for validate/test, over mTLS with an operator certificate for the rest.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync, cpSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { operatorSpiffeId } from '@bulwark/core'
import { createCliContext } from '@bulwark/cli'
import { run } from '../../cli/src/commands/policy.ts'
import { DEFAULT_POLICIES_DIR, FIXTURES_DIR } from '../src/defaults.ts'
import { startHarness, type Harness } from './helpers.ts'

const CLI = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url))
let h: Harness
let home: string
let work: string

function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--home', home, 'policy', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = '', stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('cli timed out')) }, 30_000)
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

/** The command in-process (same code path as the binary after dispatch), output captured. */
async function inProcess(...args: string[]): Promise<{ code: number | 'usage'; stdout: string; stderr: string }> {
  let stdout = '', stderr = ''
  const ctx = createCliContext({ home, json: args.includes('--json'), out: (t) => { stdout += `${t}\n` }, err: (t) => { stderr += `${t}\n` } })
  try {
    return { code: await run(args, ctx), stdout, stderr }
  } catch (error) {
    if ((error as Error).constructor.name === 'UsageError') return { code: 'usage', stdout, stderr }
    if ((error as { exitCode?: number }).exitCode !== undefined) return { code: (error as { exitCode: number }).exitCode, stdout, stderr: stderr + (error as Error).message }
    throw error
  } finally {
    await ctx.close()
  }
}

before(async () => {
  h = await startHarness()
  home = join(h.dir, 'home')
  work = join(h.dir, 'work')
  mkdirSync(join(home, 'operator'), { recursive: true })
  mkdirSync(join(home, 'ca'), { recursive: true })
  const op = await h.ca.issue(operatorSpiffeId(h.ca.trustDomain))
  writeFileSync(join(home, 'operator', 'operator.crt'), op.certPem + op.chainPem)
  writeFileSync(join(home, 'operator', 'operator.key'), op.keyPem, { mode: 0o600 })
  writeFileSync(join(home, 'ca', 'root.crt'), h.ca.rootPem)
  writeFileSync(join(home, 'config.json'), JSON.stringify({
    trustDomain: h.ca.trustDomain, internalHost: '127.0.0.1', publicHost: 'localhost', svidTtlSeconds: 3600,
    components: { policy: { port: h.port, enabled: true } },
  }))
  cpSync(DEFAULT_POLICIES_DIR, join(work, 'good'), { recursive: true })
  cpSync(DEFAULT_POLICIES_DIR, join(work, 'bad'), { recursive: true })
  writeFileSync(join(work, 'bad', 'zz.cedar'), '\n@id("x")\npermit(principal is Robot, action, resource);\n')
  cpSync(DEFAULT_POLICIES_DIR, join(work, 'strict'), { recursive: true })
  writeFileSync(join(work, 'strict', 'zz.cedar'), '@id("no-alice") forbid(principal == User::"alice", action, resource);\n')
})
after(async () => { await h.close() })

test('validate runs offline: 0 for the defaults, 1 with file:line diagnostics for a bad set, 2 for bad usage', async () => {
  // The real binary, black-box: exit codes and stderr.
  const bad = await cli('validate', join(work, 'bad'))
  assert.equal(bad.code, 1)
  assert.match(bad.stderr, /zz\.cedar:3: policy `x`: error: .*unrecognized entity type `Robot`/)
  assert.equal((await cli('validate', DEFAULT_POLICIES_DIR, '--bogus')).code, 2)
  const ok = await inProcess('validate', DEFAULT_POLICIES_DIR)
  assert.equal(ok.code, 0, ok.stderr)
  assert.match(ok.stdout, /ok: \d+ policies valid/)
  const json = await inProcess('validate', join(work, 'bad', 'zz.cedar'), '--json')
  assert.deepEqual([json.code, JSON.parse(json.stdout).ok], [1, false])
  assert.equal((await inProcess('validate')).code, 'usage')
  assert.equal((await inProcess('validate', join(work, 'missing'))).code, 1)
})

test('test exits 0 when every case matches and 1 on any mismatch', async () => {
  const cases = join(FIXTURES_DIR, 'demo-shop', 'cases.json')
  const pass = await inProcess('test', cases)
  assert.equal(pass.code, 0, pass.stdout + pass.stderr)
  assert.match(pass.stdout, /\d+ passed, 0 failed/)
  const fail = await inProcess('test', cases, '--policies', join(work, 'strict'))
  assert.equal(fail.code, 1)
  assert.match(fail.stdout, /FAIL alice reads her order: expected allow, got deny \(by no-alice\)/)
})

test('apply and diff talk to the running policy service as the operator', async () => {
  const diff = await inProcess('diff', join(work, 'strict'), '--json')
  assert.equal(diff.code, 0, diff.stderr)
  assert.deepEqual(JSON.parse(diff.stdout).changes.added, ['no-alice'])
  const refused = await inProcess('apply', join(work, 'bad'))
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /422 BW_POLICY_INVALID/)
  assert.match(refused.stderr, /zz\.cedar:3: .*Robot/)
  const applied = await inProcess('apply', join(work, 'strict'), '--message', 'ban alice')
  assert.equal(applied.code, 0, applied.stderr)
  assert.match(applied.stdout, /applied: version 2 active \(1 added, 0 removed, 0 changed\)/)
  const versions = await inProcess('versions')
  assert.match(versions.stdout, /^\* 2 .*ban alice$/m)
  const back = await cli('rollback', '1')
  assert.equal(back.code, 0, back.stderr)
  assert.equal((await inProcess('rollback', 'one')).code, 'usage')
})
