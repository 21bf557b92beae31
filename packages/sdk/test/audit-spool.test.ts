import { test } from 'node:test'
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import type { AuditEvent } from '@bulwark/core'
import { tempDir } from '@bulwark/testkit'
import { createSpool } from '../src/audit/spool.ts'

const event = (id: string, padding: number) => ({ id, type: 'authz.denied', time: '2026-12-02T00:00:00.000Z', component: 'orders', actor: { kind: 'user', id: 'x'.repeat(padding) }, action: 'orders.get', outcome: 'denied' }) as unknown as AuditEvent

test('the spool refuses what passes its cap, and stays full until a complete drain, even when a small event would fit', async () => {
  using dir = tempDir('bulwark-spool-')
  const path = join(dir.path, 'spool.jsonl')
  const spool = createSpool(path, () => {}, 1000)
  assert.equal(await spool.append([event('a', 500)]), 0)
  assert.equal(await spool.append([event('b', 500)]), 1, 'the second large event does not fit')
  assert.equal(spool.full, true)
  assert.equal(await spool.append([event('c', 10)]), 0, 'a small one still fits')
  assert.equal(spool.full, true, 'but the spool is still reported full')
  assert.ok(statSync(path).size <= 1000)
  const { events, end } = await spool.read()
  assert.deepEqual(events.map((e) => e.event.id), ['a', 'c'])
  await spool.advance(end, events.length)
  assert.equal(spool.full, false, 'a complete drain empties it')
  assert.equal(statSync(path).size, 0)
  assert.equal(await spool.append([event('d', 500)]), 0)
})

test('under steady load the spool cuts its delivered prefix away and loses, repeats or reorders nothing that waits', async () => {
  using dir = tempDir('bulwark-spool-')
  const path = join(dir.path, 'spool.jsonl')
  const spool = createSpool(path, () => {}, 8000) // compacts once 2000 delivered bytes outweigh what waits
  const delivered: string[] = []
  let next = 0
  const appendSome = async (n: number) => { assert.equal(await spool.append(Array.from({ length: n }, () => event(`e${next++}`, 20))), 0) }
  let maxSize = 0
  for (let round = 0; round < 40; round++) {
    await appendSome(5)
    const { events } = await spool.read()
    // Deliver all but the newest two, while the next group is being appended: the file is never empty at an ack.
    const take = events.slice(0, Math.max(0, events.length - 2))
    const appending = appendSome(3)
    if (take.length > 0) await spool.advance(take.at(-1)!.end, take.length)
    await appending
    delivered.push(...take.map((e) => e.event.id))
    maxSize = Math.max(maxSize, statSync(path).size)
  }
  const { events, end } = await spool.read()
  await spool.advance(end, events.length)
  delivered.push(...events.map((e) => e.event.id))
  assert.deepEqual(delivered, Array.from({ length: next }, (_, i) => `e${i}`))
  assert.ok(maxSize < 8000, `the file stayed small (${maxSize} bytes for ${next} events of ~160 bytes)`)
  assert.equal(spool.depth, 0)
  await spool.close()
})
