import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startHarness, type Harness } from './helpers.ts'
import { startService, type TestService } from './services.ts'

// 5 s certificates renewed at half-life: several rotations of both services
// (and of the CA's own serving certificate) within a few seconds of traffic.
const TTL_SECONDS = 5
const TRAFFIC_MS = 10_000

let h: Harness
let orders: TestService
let payments: TestService
before(async () => {
  h = await startHarness({ svidTtlSeconds: TTL_SECONDS })
  orders = await startService(h, 'orders')
  payments = await startService(h, 'payments')
})
after(async () => {
  await orders.close()
  await payments.close()
  await h.close()
})

test('rotation at half-life under continuous traffic drops no request', async (t) => {
  const keptAlive = orders.agentTo(payments)
  const fresh = orders.agentTo(payments)
  const clientSerials = new Set<string>()
  const serverSerials = new Set<string>()
  let ok = 0
  const failures: string[] = []
  const caSerialBefore = h.running.source.current().serial
  const deadline = Date.now() + TRAFFIC_MS

  async function worker(dispatcher: typeof keptAlive, reset: boolean): Promise<void> {
    while (Date.now() < deadline) {
      try {
        const res = await request(`${payments.url}/hello`, { dispatcher, reset })
        const body = await res.body.json() as { from: string; peerSerial: string; servedWith: string }
        if (res.statusCode !== 200 || body.from !== orders.source.current().spiffeId) failures.push(`status ${res.statusCode}`)
        else {
          ok += 1
          clientSerials.add(body.peerSerial)
          serverSerials.add(body.servedWith)
        }
      } catch (error) {
        failures.push((error as Error).message)
      }
    }
  }
  // Two kept-alive streams and one that makes a new TLS handshake per request.
  await Promise.all([worker(keptAlive, false), worker(keptAlive, false), worker(fresh, true)])

  t.diagnostic(`${ok} requests, rotations orders=${orders.rotations} payments=${payments.rotations}, client certs seen=${clientSerials.size}, server certs seen=${serverSerials.size}`)
  assert.deepEqual(failures, [], `${failures.length} failed requests`)
  assert.ok(ok > 100, `only ${ok} requests`)
  assert.ok(orders.rotations >= 3, `orders rotated ${orders.rotations} times`)
  assert.ok(payments.rotations >= 3, `payments rotated ${payments.rotations} times`)
  assert.ok(clientSerials.size >= 3, `server saw ${clientSerials.size} client certificates`)
  assert.ok(serverSerials.size >= 3, `client saw ${serverSerials.size} server certificates`)
  assert.notEqual(h.running.source.current().serial, caSerialBefore, 'the CA rotated its own serving certificate')
  const renewed = h.audit.events.filter((e) => e.type === 'cert.renewed')
  assert.ok(renewed.length >= 6)
})
