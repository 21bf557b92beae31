// Test fixture: every password, secret and token in this file is a made-up test value.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { createManualClock, createMemoryAuditSink, createMtlsAgent, createSilentLogger, operatorSpiffeId } from '@bulwark/core'
import { createTestCa, tempDir } from '@bulwark/testkit'
import { createVault } from '../src/server.ts'
import { loadVaultConfig } from '../src/config.ts'

const CHILD = fileURLToPath(new URL('./fixtures/vault-child.ts', import.meta.url))
const DIE_MID_WRITE = fileURLToPath(new URL('./fixtures/die-mid-write.ts', import.meta.url))

test('kill -9 during writes: every acknowledged write is readable afterwards, nothing half-written', async () => {
  using dir = tempDir('bulwark-vault-crash-')
  const ca = await createTestCa()
  const child = fork(CHILD, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  try {
    child.send({ home: dir.path, svid: await ca.issue('vault'), trustDomain: ca.trustDomain })
    const [{ port }] = await once(child, 'message') as [{ port: number }]
    const expected = `spiffe://${ca.trustDomain}/svc/vault`
    const agent = createMtlsAgent(await ca.source(operatorSpiffeId(ca.trustDomain)), { verifyPeer: (id) => id === expected, connections: 16 })
    const acked = new Map<string, { version: number; value: string }>()
    let sent = 0
    let ackCount = 0
    let stop = false
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const path = `crash/w${w}/s${i % 5}`
        const value = `value-${w}-${i}`
        sent++
        try {
          const res = await request(`https://127.0.0.1:${port}/v1/kv/data/${path}`, {
            method: 'PUT', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { value } }),
          })
          const body = await res.body.json() as { version: number }
          if (res.statusCode === 200) {
            ackCount++
            acked.set(path, { version: body.version, value })
          }
          if (ackCount >= 400 && !stop) {
            stop = true
            child.kill('SIGKILL')
          }
        } catch {
          return // the connection died with the process
        }
      }
    }
    await Promise.all(Array.from({ length: 16 }, (_, w) => writer(w)))
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
    assert.equal(child.signalCode, 'SIGKILL')
    await agent.close().catch(() => undefined)
    assert.ok(sent > ackCount, `writes were in flight when the process died (${sent} sent, ${ackCount} acknowledged)`)

    const vault = await createVault(loadVaultConfig({ trustDomain: ca.trustDomain }, {}), {
      log: createSilentLogger(), audit: createMemoryAuditSink(), clock: createManualClock(), home: dir.path,
    })
    try {
      for (const [path, { version, value }] of acked) {
        const got = await vault.kv.get(path, version)
        assert.equal(got.data.value, value, `${path} v${version}`)
        // Whatever came after the last acknowledgement is either complete or absent.
        const latest = await vault.kv.get(path)
        assert.ok(latest.version >= version)
        assert.match(String(latest.data.value), /^value-\d+-\d+$/)
      }
      const check = (await vault.store.one<{ integrity_check: string }>('PRAGMA integrity_check'))!
      assert.equal(check.integrity_check, 'ok')
    } finally {
      await vault.close()
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
})

test('a crash in the middle of a write leaves the previous version readable', async () => {
  using dir = tempDir('bulwark-vault-midwrite-')
  const deps = { log: createSilentLogger(), audit: createMemoryAuditSink(), clock: createManualClock(), home: dir.path }
  const before = await createVault(loadVaultConfig({}, {}), deps)
  await before.kv.put('app/config', { password: 'previous' }, { actor: 'test' })
  await before.close()
  const child = fork(DIE_MID_WRITE, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  child.send({ home: dir.path })
  await once(child, 'exit')
  assert.equal(child.signalCode, 'SIGKILL')
  const after = await createVault(loadVaultConfig({}, {}), deps)
  try {
    const latest = await after.kv.get('app/config')
    assert.equal(latest.version, 1)
    assert.deepEqual(latest.data, { password: 'previous' })
    assert.equal((await after.kv.metadata('app/config')).versions.length, 1)
  } finally {
    await after.close()
  }
})
