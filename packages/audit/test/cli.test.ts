// `bulwark audit | alerts | incident` against a real audit service and small
// real mTLS stand-ins for identity, vault and ca.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import { homePaths, operatorSpiffeId } from '@bulwark/core'
import { exportLine } from '@bulwark/sdk/audit'
import { createTestCa, freePort } from '@bulwark/testkit'
import { startAudit, makeEvent } from './helpers.ts'
import { cli, makeHome, startStub } from './cli-helpers.ts'

const ca = await createTestCa()
const identity = await startStub(ca, 'identity', {
  'POST /admin/v1/subjects/:id/revoke': (r) => ((r.params as { id: string }).id === 'nobody' ? { status: 404, body: { code: 'BW_NOT_FOUND', detail: 'no such subject' } } : { body: { revoked: true } }),
  'POST /admin/v1/keys/rotate': () => ({ body: { kid: 'k2' } }),
})
const vault = await startStub(ca, 'vault', {
  'GET /v1/transit/keys': () => ({ body: { keys: ['payments-card', 'orders'] } }),
  'POST /v1/transit/keys/:name/rotate': (r) => ({ body: { result: { name: (r.params as { name: string }).name, latestVersion: 2 } } }),
})
const caStub = await startStub(ca, 'ca', {
  'POST /v1/quarantine': (r) => ({ body: { ...(r.body as object), quarantined: true } }),
  'POST /v1/release': (r) => ({ body: { ...(r.body as object), quarantined: false } }),
  'POST /v1/rotate': () => ({ body: { serial: 'AB' } }),
})
const auditPort = await freePort()
const home = await makeHome(ca, { audit: auditPort, identity: identity.port, vault: vault.port, ca: caStub.port })
const audit = await startAudit({ ca, port: auditPort, dir: homePaths(home.home).componentDir('audit') })
after(async () => {
  await audit.stop()
  for (const s of [identity, vault, caStub]) await s.app.close()
  home.remove()
})
const idp = await audit.client('identity')
const failures = Array.from({ length: 10 }, (_, i) => makeEvent('identity', { type: 'login.failed', requestId: `cli-${i}`, actor: { kind: 'user', id: 'carol', ip: '203.0.113.31' }, outcome: 'failure' }))
assert.equal((await idp.call('POST', '/v1/events', { events: failures })).status, 200)
const exportFile = join(home.home, 'audit-export.jsonl')

test('audit tail prints the latest entries, filtered by type, as text or JSON lines', async () => {
  const text = await cli(home.home, 'audit', ['tail', '--type', 'login.failed', '--limit', '3'])
  assert.equal(text.code, 0, text.err)
  assert.equal(text.out.split('\n').length, 3)
  assert.match(text.out, /login\.failed.*carol/)
  const json = await cli(home.home, 'audit', ['tail', '--json', '--type', 'login.failed'])
  const entries = json.out.split('\n').map((l) => JSON.parse(l))
  assert.equal(entries.length, 10)
  assert.deepEqual(entries.map((e) => e.event.requestId), failures.map((e) => e.requestId))
  assert.equal((await cli(home.home, 'audit', ['tail', '--type', 'Bad Type'])).code, 2)
})

test('audit export writes a verifiable owner-only JSON Lines file, and verify --file accepts it against the live log', async () => {
  const res = await cli(home.home, 'audit', ['export', '--out', exportFile])
  assert.equal(res.code, 0, res.err)
  assert.equal(statSync(exportFile).mode & 0o777, 0o600)
  const lines = readFileSync(exportFile, 'utf8').trim().split('\n')
  assert.ok(JSON.parse(lines[lines.length - 1]!).treeHead.signature)
  const verify = await cli(home.home, 'audit', ['verify', '--file', exportFile])
  assert.equal(verify.code, 0, verify.out + verify.err)
  assert.match(verify.out, /consistent with the live log/)
  assert.equal((await cli(home.home, 'audit', ['export'])).code, 2)
})

test('audit verify --file names the first bad entry of a changed export', async () => {
  const lines = readFileSync(exportFile, 'utf8').trim().split('\n')
  const cases: Array<[string, string[], number]> = [
    ['edited', lines.map((l, i) => (i === 3 ? l.replace('carol', 'mallory') : l)), 3],
    ['removed', lines.filter((_, i) => i !== 5), 5],
    ['reordered', lines.map((l, i) => (i === 1 ? lines[2]! : i === 2 ? lines[1]! : l)), 1],
    ['truncated', [...lines.slice(0, 4), lines[lines.length - 1]!], 4],
    ['carefully edited', lines.map((l, i) => {
      if (i !== 6) return l
      // Content changed, leaf hash recomputed, line kept canonical: only the signed root catches it.
      const { leafHash: _, ...entry } = JSON.parse(l.replace('carol', 'mallory'))
      return exportLine(entry)
    }), 6],
  ]
  for (const [name, changed, index] of cases) {
    const file = join(home.home, `tampered-${name.replace(' ', '-')}.jsonl`)
    writeFileSync(file, changed.join('\n') + '\n')
    const res = await cli(home.home, 'audit', ['verify', '--file', file, '--json'])
    assert.equal(res.code, 1, name)
    assert.equal(JSON.parse(res.out).firstBadIndex, index, `${name}: ${res.out}`)
    const human = await cli(home.home, 'audit', ['verify', '--file', file])
    assert.ok(human.out.includes(`FAILED: first bad entry: index ${index}:`), `${name}: ${human.out}`)
  }
})

// Edits that leave what JSON.parse returns unchanged (or only add to it): each
// must still count as a changed line, since a reader may see another record.
const LINE_EDITS: Array<[string, (line: string) => string]> = [
  ['a space after the opening brace', (l) => l.replace(/^\{/, '{ ')],
  ['a duplicate key in front of the real one', (l) => l.replace(/^(\{"\w+":\{)/, l.startsWith('{"treeHead"') ? '$1"keyId":"00",' : '$1"action":"secret.deleted",')],
  ['an unknown field', (l) => l.replace(/\}$/, ',"zz":0}')],
  ['a missing field', (l) => l.replace(l.startsWith('{"treeHead"') ? /"keyId":"[0-9a-f]+",/ : /,"leafHash":"[0-9a-f]+"/, '')],
  ['reordered keys', (l) => { const v = JSON.parse(l); return JSON.stringify(l.startsWith('{"treeHead"') ? { treeHead: Object.fromEntries(Object.entries(v.treeHead).reverse()) } : { leafHash: v.leafHash, event: v.event, index: v.index, received: v.received }) }],
  ['a number written as 1.0', (l) => l.replace(/"(index|treeSize)":(\d+)/, '"$1":$2.0')],
  ['a number written as 1e0', (l) => l.replace(/"(index|treeSize)":(\d+)/, '"$1":$2e0')],
  ['trailing whitespace', (l) => `${l} `],
  ['a carriage return', (l) => `${l}\r`],
]

test('audit verify --file fails, naming the entry, when a line is not byte for byte the canonical serialization of its record', async () => {
  const lines = readFileSync(exportFile, 'utf8').trim().split('\n')
  for (const [name, change] of LINE_EDITS) {
    const changed = change(lines[3]!)
    assert.notEqual(changed, lines[3], name)
    assert.deepEqual(JSON.parse(changed).event?.actor ?? JSON.parse(changed).actor, JSON.parse(lines[3]!).event.actor, `${name}: a reader sees the same actor`)
    const file = join(home.home, 'tampered-line.jsonl')
    writeFileSync(file, lines.map((l, i) => (i === 3 ? changed : l)).join('\n') + '\n')
    const res = await cli(home.home, 'audit', ['verify', '--file', file])
    assert.equal(res.code, 1, `${name}: ${res.out}`)
    assert.ok(res.out.startsWith('FAILED: first bad entry: index 3: entry 3 (line 4):'), `${name}: ${res.out}`)
  }
  const duplicate = LINE_EDITS[1]![1](lines[3]!)
  writeFileSync(join(home.home, 'tampered-line.jsonl'), lines.map((l, i) => (i === 3 ? duplicate : l)).join('\n') + '\n')
  assert.match((await cli(home.home, 'audit', ['verify', '--file', join(home.home, 'tampered-line.jsonl')])).out, /duplicate key `action`/)
})

test('audit verify --file fails, naming the line, when the tree head line is not byte for byte its canonical serialization', async () => {
  const lines = readFileSync(exportFile, 'utf8').trim().split('\n')
  const last = lines.length - 1
  for (const [name, change] of LINE_EDITS) {
    const changed = change(lines[last]!)
    assert.notEqual(changed, lines[last], name)
    const file = join(home.home, 'tampered-head.jsonl')
    writeFileSync(file, lines.map((l, i) => (i === last ? changed : l)).join('\n') + '\n')
    const res = await cli(home.home, 'audit', ['verify', '--file', file])
    assert.equal(res.code, 1, `${name}: ${res.out}`)
    assert.ok(res.out.startsWith(`FAILED: line ${last + 1} (the tree head):`), `${name}: ${res.out}`)
  }
})

test('audit verify --file works offline, without a home or a reachable service', async () => {
  const res = await cli(join(home.home, 'no-such-home'), 'audit', ['verify', '--file', exportFile])
  assert.equal(res.code, 0, res.out + res.err)
  assert.match(res.out, /offline/)
})

test('audit verify checks the live store and fails, naming the index, once it is changed', async () => {
  const ok = await cli(home.home, 'audit', ['verify'])
  assert.equal(ok.code, 0, ok.out + ok.err)
  const db = new DatabaseSync(join(homePaths(home.home).componentDir('audit'), 'log.db'))
  const { data } = db.prepare('SELECT data FROM entries WHERE seq = 2').get() as { data: string }
  db.prepare('UPDATE entries SET data = ? WHERE seq = 2').run(data.replace('carol', 'eve'))
  const bad = await cli(home.home, 'audit', ['verify'])
  db.prepare('UPDATE entries SET data = ? WHERE seq = 2').run(data)
  db.close()
  assert.equal(bad.code, 1)
  assert.match(bad.out, /first bad entry: index 2/)
  assert.equal((await cli(home.home, 'audit', ['verify'])).code, 0)
})

test('alerts lists what the detectors raised, with the response', async () => {
  const res = await cli(home.home, 'alerts', ['--json'])
  assert.equal(res.code, 0, res.err)
  const alert = JSON.parse(res.out).alerts.find((a: any) => a.detector === 'brute_force')
  assert.equal(alert.key, 'user:carol')
  const text = await cli(home.home, 'alerts', [])
  assert.match(text.out, /HIGH\s+brute_force/)
})

async function incidents(): Promise<any[]> {
  await audit.service.audit.flush()
  return (await audit.service.log.query({ after: -1, limit: 10_000, order: 'asc' })).map((d) => JSON.parse(d).event).filter((e) => e.component === 'cli')
}

test('incident revoke calls identity as the operator and is itself audited', async () => {
  const res = await cli(home.home, 'incident', ['revoke', '--subject', 'alice'])
  assert.equal(res.code, 0, res.err)
  const call = identity.seen.find((s) => s.url === '/admin/v1/subjects/alice/revoke')
  assert.equal(call?.caller, operatorSpiffeId(ca.trustDomain))
  const event = (await incidents()).find((e) => e.type === 'incident.subject_revoked' && e.resource === 'subject:alice')
  assert.equal(event.outcome, 'success')
  assert.deepEqual(event.actor, { kind: 'operator', spiffeId: operatorSpiffeId(ca.trustDomain) })
  const failed = await cli(home.home, 'incident', ['revoke', '--subject', 'nobody'])
  assert.equal(failed.code, 1)
  assert.match(failed.err, /no such subject/)
  assert.ok((await incidents()).some((e) => e.resource === 'subject:nobody' && e.outcome === 'failure'))
})

test('incident rotate-keys rotates signing keys, every transit key and the CA, or just one of them', async () => {
  const all = await cli(home.home, 'incident', ['rotate-keys', '--json'])
  assert.equal(all.code, 0, all.err)
  assert.ok(identity.seen.some((s) => s.url === '/admin/v1/keys/rotate'))
  assert.deepEqual(vault.seen.filter((s) => s.method === 'POST').map((s) => s.url), ['/v1/transit/keys/payments-card/rotate', '/v1/transit/keys/orders/rotate'])
  assert.equal(caStub.seen.filter((s) => s.url === '/v1/rotate').length, 1)
  assert.deepEqual(JSON.parse(all.out).result.transit.rotated, ['payments-card', 'orders'])
  const before = caStub.seen.length
  assert.equal((await cli(home.home, 'incident', ['rotate-keys', '--what', 'transit'])).code, 0)
  assert.equal(caStub.seen.length, before)
  assert.equal((await cli(home.home, 'incident', ['rotate-keys', '--what', 'everything'])).code, 2)
  assert.ok((await incidents()).some((e) => e.type === 'incident.keys_rotated' && e.resource === 'keys:transit'))
})

test('incident quarantine and release call the CA with the service and are audited', async () => {
  assert.equal((await cli(home.home, 'incident', ['quarantine', 'payments'])).code, 0)
  assert.equal((await cli(home.home, 'incident', ['release', 'payments'])).code, 0)
  assert.deepEqual(caStub.seen.filter((s) => s.url !== '/v1/rotate').map((s) => [s.url, s.body]), [['/v1/quarantine', { service: 'payments' }], ['/v1/release', { service: 'payments' }]])
  const types = (await incidents()).filter((e) => e.resource === 'service:payments').map((e) => e.type)
  assert.deepEqual(types, ['incident.service_quarantined', 'incident.service_released'])
  for (const args of [['quarantine'], ['quarantine', 'Bad Name'], ['quarantine', 'a', 'b'], ['revoke'], ['explode']]) {
    assert.equal((await cli(home.home, 'incident', args)).code, 2, args.join(' '))
  }
})
