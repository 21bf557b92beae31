// The sdk emitter against a real audit service over mTLS: spool while it is
// down, drain when it is back, nothing lost and nothing duplicated.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { readFileSync, writeFileSync } from 'node:fs'
import { createMetrics, createMtlsAgent, createSilentLogger, serviceSpiffeId, type Metrics } from '@bulwark/core'
import { createTestCa, freePort, tempDir } from '@bulwark/testkit'
import { createAuditEmitter } from '@bulwark/sdk/audit'
import { startAudit, callerEntries, makeEvent, type Harness } from './helpers.ts'

const ca = await createTestCa()
const work = tempDir('bulwark-emitter-')
const harnesses: Harness[] = []
after(async () => { for (const h of harnesses) await h.close(); work.remove() })

async function emitterFor(component: string, url: string, spoolPath: string, metrics?: Metrics, spoolMaxBytes?: number) {
  const dispatcher = createMtlsAgent(await ca.source(component), { verifyPeer: (id) => id === serviceSpiffeId(ca.trustDomain, 'audit') })
  return createAuditEmitter({ url, dispatcher, spoolPath, component, log: createSilentLogger(), batchSize: 20, ...(metrics ? { metrics } : {}), ...(spoolMaxBytes ? { spoolMaxBytes } : {}) })
}

async function spoolGauge(metrics: Metrics): Promise<number> {
  const text = await metrics.registry.metrics()
  return Number(/^bulwark_audit_spool_depth\{[^}]*\} (\d+)$/m.exec(text)?.[1] ?? NaN)
}

test('spools while the audit service is down and drains every event exactly once when it is back', async () => {
  const port = await freePort()
  const url = `https://127.0.0.1:${port}`
  const spoolPath = join(work.path, 'gateway-spool.jsonl')
  const metrics = createMetrics('gateway')
  const emitter = await emitterFor('gateway', url, spoolPath, metrics)
  for (let i = 0; i < 45; i++) emitter.emit({ type: 'authn.failed', actor: { kind: 'anonymous', ip: '192.0.2.1' }, action: 'gateway.authenticate', outcome: 'failure', requestId: `req-${i}` })
  await emitter.flush()
  assert.equal(emitter.spoolDepth(), 45)
  assert.equal(await spoolGauge(metrics), 45)
  assert.equal(readFileSync(spoolPath, 'utf8').trim().split('\n').length, 45)

  const harness = await startAudit({ ca, port })
  harnesses.push(harness)
  emitter.emit({ type: 'authn.failed', actor: { kind: 'anonymous' }, action: 'gateway.authenticate', outcome: 'failure', requestId: 'req-after' })
  await emitter.flush()
  assert.equal(emitter.spoolDepth(), 0)
  assert.equal(await spoolGauge(metrics), 0)
  assert.equal(readFileSync(spoolPath, 'utf8'), '')
  const entries = (await harness.service.log.query({ after: -1, limit: 1000, order: 'asc' })).map((d) => JSON.parse(d).event)
  const ids = entries.filter((e) => e.component === 'gateway').map((e) => e.requestId)
  assert.deepEqual(ids, [...Array.from({ length: 45 }, (_, i) => `req-${i}`), 'req-after'])
  await emitter.close()
})

test('a spool re-sent after a crash mid-drain adds nothing twice, and a torn last line is skipped', async () => {
  const harness = await startAudit({ ca })
  harnesses.push(harness)
  const vault = await harness.client('vault')
  const delivered = Array.from({ length: 5 }, () => makeEvent('vault', { type: 'secret.written' }))
  assert.equal((await vault.call('POST', '/v1/events', { events: delivered })).status, 200)
  const pending = makeEvent('vault', { type: 'secret.read' })
  const spoolPath = join(work.path, 'vault-spool.jsonl')
  writeFileSync(spoolPath, [...delivered, pending].map((e) => JSON.stringify(e)).join('\n') + '\n{"id":"torn', { mode: 0o600 })
  const before = await callerEntries(harness)
  const emitter = await emitterFor('vault', harness.url, spoolPath)
  assert.equal(emitter.spoolDepth(), 7)
  await emitter.flush()
  assert.equal(emitter.spoolDepth(), 0)
  assert.equal(await callerEntries(harness), before + 1)
  assert.ok(harness.service.log.indexOfEvent(pending.id) !== undefined)
  await emitter.close()
})

test('drops malformed events at emit and refused ones at the service without blocking the rest', async () => {
  const harness = await startAudit({ ca })
  harnesses.push(harness)
  const emitter = await emitterFor('orders', harness.url, join(work.path, 'orders-spool.jsonl'))
  emitter.emit({ type: 'Not A Type', actor: { kind: 'user' }, action: 'x', outcome: 'success' })
  emitter.emit({ type: 'login.failed', actor: { kind: 'user', id: 'alice' }, action: 'login', outcome: 'failure' }) // reserved for identity: 403
  await emitter.flush()
  emitter.emit({ type: 'order.created', actor: { kind: 'user', id: 'alice' }, action: 'orders.create', outcome: 'success' })
  await emitter.flush()
  assert.equal(emitter.spoolDepth(), 0)
  const types = (await harness.service.log.query({ after: -1, limit: 100, order: 'asc' })).map((d) => JSON.parse(d).event).filter((e) => e.component === 'orders').map((e) => e.type)
  assert.deepEqual(types, ['order.created'])
  await emitter.close()
})

test('a spool at its size cap refuses further events, counts them, reports full until the service drains it', async () => {
  const port = await freePort()
  const url = `https://127.0.0.1:${port}`
  const spoolPath = join(work.path, 'orders-spool.jsonl')
  const metrics = createMetrics('orders')
  const emitter = await emitterFor('orders', url, spoolPath, metrics, 4096)
  for (let i = 0; i < 60; i++) emitter.emit({ type: 'authz.denied', actor: { kind: 'user', id: 'bob' }, action: 'orders.get', outcome: 'denied', requestId: `req-${i}` })
  await emitter.flush()
  const kept = emitter.spoolDepth()
  assert.ok(kept > 0 && kept < 60, `some events kept (${kept}), the rest refused`)
  assert.ok(readFileSync(spoolPath).length <= 4096, 'the file stays under its cap')
  assert.equal(emitter.spoolFull(), true)
  // A small event that still fits does not make the spool look healthy again.
  emitter.emit({ type: 'authz.denied', actor: { kind: 'user', id: 'b' }, action: 'orders.get', outcome: 'denied' })
  await emitter.flush()
  assert.equal(emitter.spoolFull(), true, 'full until the audit service drains it')
  const dropped = Number(/^bulwark_audit_emit_dropped_total\{[^}]*reason="spool_full"[^}]*\} (\d+)$/m.exec(await metrics.registry.metrics())?.[1] ?? NaN)
  assert.ok(dropped >= 60 - kept)

  const harness = await startAudit({ ca, port })
  harnesses.push(harness)
  emitter.emit({ type: 'authz.denied', actor: { kind: 'user', id: 'bob' }, action: 'orders.get', outcome: 'denied', requestId: 'req-after' })
  await emitter.flush()
  assert.equal(emitter.spoolDepth(), 0)
  assert.equal(emitter.spoolFull(), false)
  const ids = (await harness.service.log.query({ after: -1, limit: 1000, order: 'asc' })).map((d) => JSON.parse(d).event).filter((e) => e.component === 'orders').map((e) => e.requestId)
  assert.deepEqual(ids.slice(0, kept), Array.from({ length: kept }, (_, i) => `req-${i}`), 'the oldest events, in order')
  assert.equal(ids.at(-1), 'req-after')
  await emitter.close()
})
