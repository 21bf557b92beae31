import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { createSvidSource, serviceSpiffeId, type Svid } from '@bulwark/core'
import { obtainSvid, startSvidRotation } from '@bulwark/sdk/svid'
import { startHarness, TD } from './helpers.ts'

const h = await startHarness({ svidTtlSeconds: 8 })
after(async () => { await h.close() })

test('renewal retries with backoff while the CA is down and succeeds before expiry once it is back', async () => {
  const failures: string[] = []
  let onFailure = () => {}
  const log = pino({ level: 'warn' }, {
    write(line: string) {
      if (line.includes('svid renewal failed')) { failures.push(line); onFailure() }
    },
  })
  const spiffeId = serviceSpiffeId(TD, 'users')
  const source = createSvidSource(await obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: await h.joinToken(spiffeId), spiffeId }))
  const first = source.current()
  await h.stopCa()
  const rotation = startSvidRotation({ caUrl: h.url, source, log, retryBaseMs: 100, maxBackoffMs: 300 })
  // Rotation timers are unref'd (a server keeps a process alive); here nothing else does.
  const keepAlive = setInterval(() => {}, 1000)
  try {
    // Half-life passes with the CA down: the renewal fails and is retried.
    await new Promise<void>((resolve) => { onFailure = resolve })
    assert.equal(source.current().serial, first.serial, 'the old SVID stays in use meanwhile')
    await h.startCa()
    const renewed = await new Promise<Svid>((resolve) => { source.onRotate(resolve) })
    assert.notEqual(renewed.serial, first.serial)
    assert.ok(Date.now() < first.notAfter, 'renewed before the old certificate expired')
    assert.ok(failures.length >= 1)
    assert.ok(!failures.join('').includes('PRIVATE KEY'), 'no key material in the log')
  } finally {
    clearInterval(keepAlive)
    rotation.stop()
  }
})
