// `bulwark ca issue` / `ca list` against a real CA, through the real CLI entry point.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { join, resolve } from 'node:path'
import { defaultPlatformConfig, serviceSpiffeId, spiffeIdOfCertificate } from '@bulwark/core'
import { tempDir } from '@bulwark/testkit'
import { startHarness, TD, type Harness } from './helpers.ts'
import { run } from '../../cli/src/commands/ca.ts'
import { createCliContext } from '../../cli/src/context.ts'
import { UsageError } from '../../cli/src/args.ts'

const exec = promisify(execFile)
const MAIN = resolve(import.meta.dirname, '../../cli/src/main.ts')

let h: Harness
before(async () => {
  h = await startHarness()
  const config = defaultPlatformConfig()
  config.trustDomain = TD
  config.components.ca!.port = Number(new URL(h.url).port)
  writeFileSync(h.paths.config, JSON.stringify(config))
})
after(async () => { await h.close() })

async function bulwark(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [MAIN, '--home', h.paths.home, ...args], { timeout: 30_000 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

test('ca issue writes a 0600 key, a chained certificate for the service and the bundle', async () => {
  using out = tempDir()
  const res = await bulwark('--json', 'ca', 'issue', '--service', 'reports', '--out', out.path)
  assert.equal(res.code, 0, res.stderr)
  const summary = JSON.parse(res.stdout) as { spiffeId: string; serial: string }
  assert.equal(summary.spiffeId, serviceSpiffeId(TD, 'reports'))
  assert.equal(statSync(join(out.path, 'key.pem')).mode & 0o777, 0o600)
  const [leafPem, interPem] = readFileSync(join(out.path, 'cert.pem'), 'utf8').split(/(?=-----BEGIN CERTIFICATE-----)/)
  const leaf = new X509Certificate(leafPem!)
  const root = new X509Certificate(readFileSync(join(out.path, 'bundle.pem')))
  assert.equal(spiffeIdOfCertificate(leaf), summary.spiffeId)
  assert.ok(leaf.verify(new X509Certificate(interPem!).publicKey))
  assert.ok(new X509Certificate(interPem!).verify(root.publicKey))
  assert.ok(leaf.checkPrivateKey(createPrivateKey(readFileSync(join(out.path, 'key.pem')))))
  assert.equal(h.audit.events.filter((e) => e.type === 'cert.issued' && e.details?.via === 'issue').at(-1)?.actor.kind, 'operator')

  // The rest in-process (the same command module the entry point dispatches to).
  const lines: string[] = []
  const errors: string[] = []
  const ctx = createCliContext({ home: h.paths.home, json: false, out: (t) => lines.push(t), err: (t) => errors.push(t) })
  try {
    assert.equal(await run(['issue', '--service', 'reports', '--out', out.path], ctx), 1, 'refuses to overwrite without --force')
    assert.match(errors.join('\n'), /exists/)
    assert.equal(await run(['list', '--json', '--service', 'reports'], ctx), 0)
    const certs = (JSON.parse(lines.pop()!) as { certs: Array<{ serial: string; via: string }> }).certs
    assert.deepEqual(certs.map((c) => [c.serial, c.via]), [[summary.serial, 'issue']])
    assert.equal(await run(['list'], ctx), 0)
    assert.match(lines[0]!, /^SERIAL\s+SPIFFE ID/)
    assert.ok(lines.some((l) => l.includes(summary.serial) && l.endsWith('active')))
    assert.equal(await run(['issue', '--service', 'reports', '--out', out.path, '--force'], ctx), 0)
    assert.notEqual(new X509Certificate(readFileSync(join(out.path, 'cert.pem'))).serialNumber, leaf.serialNumber)
  } finally {
    await ctx.close()
  }
})

test('ca commands raise usage errors (exit 2) on bad arguments and fail (exit 1) when the CA refuses', async () => {
  using out = tempDir()
  const errors: string[] = []
  const ctx = createCliContext({ home: h.paths.home, json: false, out: () => {}, err: (t) => errors.push(t) })
  try {
    for (const args of [['issue', '--service', 'Bad Name', '--out', out.path], ['issue', '--service', 'orders'], ['frobnicate'], [], ['list', '--bogus'], ['list', '--limit', '0']]) {
      await assert.rejects(run(args, ctx), UsageError, args.join(' '))
    }
    await assert.rejects(run(['issue', '--service', 'ca', '--out', out.path], ctx), /BW_CA_SPIFFE_ID_INVALID/)
    assert.equal(statSync(out.path).isDirectory(), true)
  } finally {
    await ctx.close()
  }
})

test('ca renew-operator re-issues the operator certificate offline and the CA accepts it', async () => {
  const before = new X509Certificate(readFileSync(h.paths.operatorCert))
  const lines: string[] = []
  const ctx = createCliContext({ home: h.paths.home, json: true, out: (t) => lines.push(t), err: () => {} })
  try {
    assert.equal(await run(['renew-operator', '--days', '7'], ctx), 0)
    const after = new X509Certificate(readFileSync(h.paths.operatorCert))
    assert.notEqual(after.serialNumber, before.serialNumber)
    const days = (Date.parse(after.validTo) - Date.now()) / 86400_000
    assert.ok(days > 6.9 && days <= 7, `lives ${days} days`)
    assert.equal(statSync(h.paths.operatorKey).mode & 0o777, 0o600)
    assert.equal(JSON.parse(lines[0]!).serial, after.serialNumber.toUpperCase())
    assert.equal(await run(['list', '--limit', '1'], ctx), 0, 'the new certificate authenticates to the CA')
    await assert.rejects(run(['renew-operator', '--days', '0'], ctx), UsageError)
  } finally {
    await ctx.close()
  }
})
