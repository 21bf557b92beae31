// The reply barrier with a real emitter, spool file and Fastify server: an
// answer leaves only once the audit events of its request are on disk.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import { Agent, request } from 'undici'
import { createSilentLogger } from '@bulwark/core'
import { freePort, tempDir } from '@bulwark/testkit'
import { createAuditEmitter } from '../src/audit/index.ts'
import { installReplyBarrier } from '../src/runtime/reply-barrier.ts'

test('a reply leaves only once the audit events its request emitted are in the spool; a request that emitted none does not wait', async () => {
  using dir = tempDir('bulwark-barrier-')
  const spoolPath = join(dir.path, 'audit-spool.jsonl')
  // The audit service is down: only the spool can make an event durable.
  const dispatcher = new Agent()
  const emitter = createAuditEmitter({ url: `https://127.0.0.1:${await freePort()}`, dispatcher, spoolPath, component: 'vault', log: createSilentLogger() })
  const app = Fastify()
  let quietWaited = false
  app.post<{ Params: { n: string } }>('/write/:n', async (req) => {
    emitter.emit({ type: 'secret.written', actor: { kind: 'service', id: 'test' }, action: 'kv.write', resource: `app/${req.params.n}`, outcome: 'success', requestId: `req-${req.params.n}` })
    return { ok: true }
  })
  app.get('/quiet', async () => {
    quietWaited ||= emitter.barrier() !== undefined
    return { ok: true }
  })
  installReplyBarrier(app, emitter)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const client = new Agent({ connections: 16 })
  try {
    const notYetDurable: string[] = []
    await Promise.all(Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; i < 10; i++) {
        const n = `${w}-${i}`
        const res = await request(`${base}/write/${n}`, { method: 'POST', dispatcher: client })
        await res.body.dump()
        assert.equal(res.statusCode, 200)
        // The instant the answer arrives, its event must already be in the file.
        if (!readFileSync(spoolPath, 'utf8').includes(`"requestId":"req-${n}"`)) notYetDurable.push(n)
        const quiet = await request(`${base}/quiet`, { dispatcher: client })
        await quiet.body.dump()
      }
    }))
    assert.deepEqual(notYetDurable, [], 'acknowledged before their audit event was durable')
    assert.equal(quietWaited, false, 'a request that emitted nothing has no barrier')
    assert.equal(emitter.spoolDepth(), 160)
  } finally {
    await app.close()
    await client.close()
    await emitter.close()
    await dispatcher.close()
  }
})
