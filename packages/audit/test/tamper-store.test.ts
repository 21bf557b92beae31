// Tampering with the live store (a second SQLite connection, as an intruder
// with file access would): every kind is found, with the first bad index.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { createTestCa } from '@bulwark/testkit'
import { leafHash, verifyTreeHead } from '@bulwark/sdk/audit'
import { startAudit, makeEvent, type Harness } from './helpers.ts'

const ca = await createTestCa()
const open: Harness[] = []
after(async () => { for (const h of open) await h.close() })

async function seeded(count = 10, oneByOne = false): Promise<Harness> {
  const harness = await startAudit({ ca })
  open.push(harness)
  const vault = await harness.client('vault')
  const events = Array.from({ length: count }, (_, i) => makeEvent('vault', { type: 'secret.read', resource: `kv/app/${i}`, actor: { kind: 'service', spiffeId: `spiffe://${ca.trustDomain}/svc/payments` }, outcome: 'success' }))
  if (oneByOne) for (const event of events) assert.equal((await vault.call('POST', '/v1/events', { events: [event] })).status, 200)
  else assert.equal((await vault.call('POST', '/v1/events', { events })).status, 200)
  return harness
}

function tamper(harness: Harness, sql: string): void {
  const db = new DatabaseSync(join(harness.dir, 'log.db'))
  db.exec(sql)
  db.close()
}

async function verify(harness: Harness) {
  const operator = await harness.operator()
  const res = await operator.call('GET', '/v1/verify')
  assert.equal(res.status, 200)
  return res.body
}

test('an untouched store verifies against a signed tree head', async () => {
  const harness = await seeded()
  const report = await verify(harness)
  assert.equal(report.ok, true)
  assert.equal(report.treeSize, 10)
  assert.ok(verifyTreeHead(report.treeHead, harness.service.key.publicKeyPem))
})

const CASES: Array<[name: string, sql: string, firstBad: number]> = [
  ['an edited entry', `UPDATE entries SET data = replace(data, 'kv/app/3', 'kv/app/X') WHERE seq = 3`, 3],
  ['an edited entry with its leaf hash recomputed', '', 3],
  ['a deleted entry', 'DELETE FROM entries WHERE seq = 4', 4],
  ['an inserted entry (later ones shifted)', `UPDATE entries SET seq = seq + 100 WHERE seq >= 5; UPDATE entries SET seq = seq - 99 WHERE seq >= 100;
    INSERT INTO entries (seq, event_id, type, data, leaf_hash) SELECT 5, 'forged-event-1', type, replace(data, 'kv/app/2', 'kv/app/Z'), leaf_hash FROM entries WHERE seq = 2`, 5],
  ['an entry appended behind the log\'s back', `INSERT INTO entries (seq, event_id, type, data, leaf_hash) SELECT 10, 'forged-event-2', type, data, leaf_hash FROM entries WHERE seq = 2`, 10],
  ['two entries swapped', `UPDATE entries SET data = CASE seq WHEN 2 THEN (SELECT data FROM entries WHERE seq = 6) ELSE (SELECT data FROM entries WHERE seq = 2) END,
    leaf_hash = CASE seq WHEN 2 THEN (SELECT leaf_hash FROM entries WHERE seq = 6) ELSE (SELECT leaf_hash FROM entries WHERE seq = 2) END WHERE seq IN (2, 6)`, 2],
  ['a truncated store', 'DELETE FROM entries WHERE seq >= 7', 7],
]

for (const [name, sql, firstBad] of CASES) {
  test(`finds ${name} in the live store at index ${firstBad}`, async () => {
    const harness = await seeded()
    if (sql) tamper(harness, sql)
    else {
      // The careful intruder: edits the entry and recomputes its leaf hash column.
      const db = new DatabaseSync(join(harness.dir, 'log.db'))
      const row = db.prepare('SELECT data FROM entries WHERE seq = 3').get() as { data: string }
      const data = row.data.replace('kv/app/3', 'kv/app/Y')
      db.prepare('UPDATE entries SET data = ?, leaf_hash = ? WHERE seq = 3').run(data, leafHash(data))
      db.close()
    }
    const report = await verify(harness)
    assert.equal(report.ok, false, name)
    assert.equal(report.firstBadIndex, firstBad, report.problem)
  })
}

test('after a restart, a store edited while the service was down (leaf hash recomputed) is found to the commit, and ingestion stops', async () => {
  const harness = await seeded(10, true)
  await harness.stop()
  const db = new DatabaseSync(join(harness.dir, 'log.db'))
  const row = db.prepare('SELECT data FROM entries WHERE seq = 6').get() as { data: string }
  const data = row.data.replace('"outcome":"success"', '"outcome":"failure"')
  db.prepare('UPDATE entries SET data = ?, leaf_hash = ? WHERE seq = 6').run(data, leafHash(data))
  db.close()
  const restarted = await harness.restart()
  open.push(restarted)
  const report = await verify(restarted)
  assert.equal(report.ok, false)
  assert.equal(report.firstBadIndex, 6)
  const vault = await restarted.client('vault')
  const res = await vault.call('POST', '/v1/events', { events: [makeEvent('vault')] })
  assert.equal(res.status, 503)
  assert.equal(res.body.code, 'BW_AUDIT_LOG_TAMPERED')
  const operator = await restarted.operator()
  const alerts = await operator.call('GET', '/v1/alerts')
  assert.ok(alerts.body.alerts.some((a: any) => a.detector === 'log_tamper'))
  const before = await restarted.service.heads.count()
  assert.equal((await operator.call('GET', '/v1/tree-head')).status, 200)
  assert.equal(await restarted.service.heads.count(), before, 'nothing is signed over a tampered store')
})

test('after a restart, an edit inside a batch is found to the batch', async () => {
  const harness = await seeded(10, false)
  await harness.stop()
  const db = new DatabaseSync(join(harness.dir, 'log.db'))
  const row = db.prepare('SELECT data FROM entries WHERE seq = 6').get() as { data: string }
  const data = row.data.replace('kv/app/6', 'kv/app/Q')
  db.prepare('UPDATE entries SET data = ?, leaf_hash = ? WHERE seq = 6').run(data, leafHash(data))
  db.close()
  const restarted = await harness.restart()
  open.push(restarted)
  const report = await verify(restarted)
  assert.equal(report.ok, false)
  assert.equal(report.firstBadIndex, 0)
  assert.match(report.problem, /entries 0 to 9/)
})

test('after a restart, a naive edit (leaf hash column left alone) is found exactly', async () => {
  const harness = await seeded(10, false)
  await harness.stop()
  tamper(harness, `UPDATE entries SET data = replace(data, 'kv/app/4', 'kv/app/W') WHERE seq = 4`)
  const restarted = await harness.restart()
  open.push(restarted)
  assert.equal((await verify(restarted)).firstBadIndex, 4)
})

test('after a restart, a store cut short is found at the first missing index', async () => {
  const harness = await seeded(10, true)
  await harness.stop()
  tamper(harness, 'DELETE FROM entries WHERE seq >= 8')
  const restarted = await harness.restart()
  open.push(restarted)
  const report = await verify(restarted)
  assert.equal(report.ok, false)
  assert.equal(report.firstBadIndex, 8)
})

// Row edits that keep what JSON.parse returns (or only add to it), made by an
// intruder who also recomputes the leaf hash and removes the signed heads, so
// the restarted service re-signs over them: verify must still refuse the bytes.
const ROW_EDITS: Array<[string, (data: string) => string]> = [
  ['a space after the opening brace', (d) => d.replace(/^\{/, '{ ')],
  ['a duplicate key in front of the real one', (d) => d.replace('{"event":{', '{"event":{"action":"secret.deleted",')],
  ['an unknown field', (d) => d.replace(/\}$/, ',"zz":0}')],
  ['a missing field', (d) => d.replace(/"component":"vault",/, '')],
  ['reordered keys', (d) => { const v = JSON.parse(d); return JSON.stringify({ index: v.index, received: v.received, event: v.event }) }],
  ['a number written as 1.0', (d) => d.replace(/"index":(\d+)/, '"index":$1.0')],
  ['a number written as 1e0', (d) => d.replace(/"index":(\d+)/, '"index":$1e0')],
  ['trailing whitespace', (d) => `${d} `],
]

for (const [name, change] of ROW_EDITS) {
  test(`the live store fails verify at the entry when a row is not the canonical serialization its leaf hash covers: ${name}`, async () => {
    const harness = await seeded(6, true)
    await harness.stop()
    const db = new DatabaseSync(join(harness.dir, 'log.db'))
    const row = db.prepare('SELECT data FROM entries WHERE seq = 4').get() as { data: string }
    const data = change(row.data)
    assert.notEqual(data, row.data)
    db.prepare('UPDATE entries SET data = ?, leaf_hash = ? WHERE seq = 4').run(data, leafHash(data))
    db.exec('DELETE FROM tree_heads')
    db.close()
    const restarted = await harness.restart()
    open.push(restarted)
    const report = await verify(restarted)
    assert.equal(report.ok, false, name)
    assert.equal(report.firstBadIndex, 4, report.problem)
    assert.match(report.problem, /^entry 4: /)
  })
}

test('a clean restart keeps verifying and keeps appending', async () => {
  const harness = await seeded()
  const restarted = await harness.restart()
  open.push(restarted)
  assert.equal((await verify(restarted)).ok, true)
  const vault = await restarted.client('vault')
  assert.equal((await vault.call('POST', '/v1/events', { events: [makeEvent('vault')] })).status, 200)
  assert.equal((await verify(restarted)).ok, true)
})
