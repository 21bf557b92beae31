// kill -9 of a real audit process in the middle of ingestion: every batch it
// acknowledged is in the log after a restart, and the log still verifies.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { createMtlsAgent, operatorSpiffeId, serviceSpiffeId, type Svid } from '@bulwark/core'
import { createTestCa, tempDir } from '@bulwark/testkit'
import { callWith, makeEvent } from './helpers.ts'

const ca = await createTestCa()
const dir = tempDir('bulwark-audit-crash-')
const children: ChildProcess[] = []
after(() => { for (const child of children) child.kill('SIGKILL'); dir.remove() })

async function startChild(svid: Svid): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(join(import.meta.dirname, 'fixtures', 'audit-child.ts'), { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  children.push(child)
  child.send({ svid, dir: dir.path, trustDomain: ca.trustDomain })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port))
    child.once('exit', (code) => reject(new Error(`audit child exited with ${code}`)))
  })
  return { child, url: `https://127.0.0.1:${port}` }
}

test('kill -9 during ingestion loses nothing that was acknowledged', async () => {
  const svid = await ca.issue('audit')
  const first = await startChild(svid)
  const verifyAudit = (id: string) => id === serviceSpiffeId(ca.trustDomain, 'audit')
  const agent = createMtlsAgent(await ca.source('gateway'), { verifyPeer: verifyAudit, connections: 8 })
  const acknowledged: string[] = []
  let killed = false
  let sent = 0
  const writers = Array.from({ length: 8 }, async () => {
    while (!killed && sent < 40_000) {
      const events = Array.from({ length: 50 }, () => makeEvent('gateway'))
      sent += events.length
      try {
        const res = await callWith(agent, first.url, 'POST', '/v1/events', { events })
        if (res.status === 200) acknowledged.push(...events.map((e) => e.id))
      } catch {
        return // the connection died with the process: not acknowledged
      }
    }
  })
  while (acknowledged.length < 1500 && sent < 40_000) await new Promise((resolve) => setImmediate(resolve))
  first.child.kill('SIGKILL')
  killed = true
  await Promise.all(writers)
  await agent.close()
  assert.ok(acknowledged.length >= 1500, `only ${acknowledged.length} acknowledged`)

  const second = await startChild(svid)
  const db = new DatabaseSync(join(dir.path, 'log.db'), { readOnly: true })
  const has = db.prepare('SELECT 1 FROM entries WHERE event_id = ?')
  const missing = acknowledged.filter((id) => !has.get(id))
  db.close()
  assert.deepEqual(missing, [])
  const operator = createMtlsAgent(await ca.source(operatorSpiffeId(ca.trustDomain)), { verifyPeer: verifyAudit })
  const report = await callWith(operator, second.url, 'GET', '/v1/verify')
  assert.equal(report.body.ok, true, report.body.problem)
  await operator.close()
  second.child.kill('SIGKILL')
})
