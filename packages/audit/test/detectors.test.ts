// Each detector fires on its pattern and stays quiet on normal traffic. Time
// is a manual clock; events carry the clock's time.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createManualClock, loadConfig, type AuditActor, type AuditEvent } from '@bulwark/core'
import { DetectorsSchema } from '../src/config.ts'
import { createDetectionEngine } from '../src/detect/engine.ts'
import type { Detection } from '../src/detect/types.ts'

type Step = { type: string; actor: AuditActor; resource?: string; component?: string; every?: number; times?: number }

const SPIFFE = 'spiffe://bulwark.test/svc/'

/** Runs steps through a fresh engine and returns every detection. */
function run(steps: Step[]): Detection[] {
  const clock = createManualClock(Date.UTC(2026, 10, 23, 12))
  const engine = createDetectionEngine(loadConfig(DetectorsSchema, { value: {} }), clock)
  const found: Detection[] = []
  for (const step of steps) {
    for (let i = 0; i < (step.times ?? 1); i++) {
      const event: AuditEvent = {
        id: randomUUID(), type: step.type, time: new Date(clock.now()).toISOString(), component: step.component ?? 'identity',
        actor: typeof step.actor.id === 'string' && step.actor.id.includes('{i}') ? { ...step.actor, id: step.actor.id.replace('{i}', String(i)) } : step.actor,
        action: 'x', outcome: 'failure', ...(step.resource ? { resource: step.resource.replace('{i}', String(i)) } : {}),
      }
      found.push(...engine.observe([event]))
      clock.advance(step.every ?? 1000)
    }
  }
  return found
}

const alice = { kind: 'user' as const, id: 'alice', ip: '203.0.113.5' }
const cli = { kind: 'client' as const, clientId: 'reporting-job', ip: '203.0.113.9' }
const viaPublicClient = { kind: 'user' as const, id: 'user-42', clientId: 'shop-cli', ip: '203.0.113.9' }
const payments = { kind: 'service' as const, spiffeId: `${SPIFFE}payments` }

const CASES: Array<{ name: string; steps: Step[]; fires?: string; response?: Partial<NonNullable<Detection['response']>> }> = [
  { name: 'brute force: 10 failed logins for one account in 15 minutes (a lock that keeps the user\'s sessions)', steps: [{ type: 'login.failed', actor: alice, times: 10, every: 30_000 }], fires: 'brute_force', response: { kind: 'lock', user: 'alice', revokeSessions: false } },
  { name: 'normal: 9 failed logins then a success', steps: [{ type: 'login.failed', actor: alice, times: 9 }, { type: 'login.succeeded', actor: alice }] },
  { name: 'normal: 10 failed logins spread over an hour', steps: [{ type: 'login.failed', actor: alice, times: 10, every: 6 * 60_000 }] },
  { name: 'password spraying: one IP fails against 10 accounts', steps: [{ type: 'login.failed', actor: { kind: 'user', id: 'user{i}', ip: '198.51.100.7' }, times: 10 }], fires: 'password_spraying', response: { kind: 'block', target: 'ip', value: '198.51.100.7' } },
  { name: 'normal: 9 accounts failing from one office IP', steps: [{ type: 'login.failed', actor: { kind: 'user', id: 'user{i}', ip: '198.51.100.7' }, times: 9 }] },
  { name: 'repeated MFA failures: 5 wrong codes (a lock that also revokes the sessions: the password is known)', steps: [{ type: 'mfa.failed', actor: alice, times: 5 }], fires: 'mfa_failures', response: { kind: 'lock', user: 'alice', revokeSessions: true } },
  { name: 'normal: 4 wrong codes', steps: [{ type: 'mfa.failed', actor: alice, times: 4 }] },
  { name: 'refresh-token reuse', steps: [{ type: 'token.refreshed', actor: alice }, { type: 'token.reuse_detected', actor: alice }], fires: 'token_reuse' },
  { name: 'refresh-token reuse (identity\'s `token.reused` spelling)', steps: [{ type: 'token.reused', actor: alice }], fires: 'token_reuse' },
  { name: 'normal: refresh rotation', steps: [{ type: 'token.refreshed', actor: alice, times: 20 }] },
  { name: 'burst of 401/403 from one client', steps: [{ type: 'authz.denied', actor: cli, component: 'gateway', times: 30, every: 100 }, { type: 'authn.failed', actor: cli, component: 'gateway', times: 20, every: 100 }], fires: 'error_burst', response: { kind: 'block', target: 'client', value: 'reporting-job' } },
  { name: 'burst of 401s from one user of a public client blocks the user, not the client', steps: [{ type: 'authn.failed', actor: viaPublicClient, component: 'gateway', times: 50, every: 100 }], fires: 'error_burst', response: { kind: 'block', target: 'subject', value: 'user-42' } },
  { name: 'burst of 429s alone: alert, no block (the rate limiter already throttles)', steps: [{ type: 'rate_limit.exceeded', actor: viaPublicClient, component: 'gateway', times: 60, every: 100 }], fires: 'error_burst' },
  { name: 'burst of 401s from one anonymous address', steps: [{ type: 'authn.failed', actor: { kind: 'anonymous', ip: '192.0.2.44' }, component: 'gateway', times: 50, every: 100 }], fires: 'error_burst', response: { kind: 'block', target: 'ip', value: '192.0.2.44' } },
  { name: 'normal: a few refusals a minute', steps: [{ type: 'authz.denied', actor: cli, component: 'gateway', times: 60, every: 5000 }] },
  { name: 'a service calling a route it may not', steps: [{ type: 'authz.denied', actor: payments, component: 'orders', resource: 'orders:GET /internal/orders' }], fires: 'service_denied' },
  { name: 'normal: users denied by policy', steps: [{ type: 'authz.denied', actor: alice, component: 'orders', times: 10, every: 60_000 }] },
  { name: 'unusual secret reads: one principal reads 100 secrets in minutes', steps: [{ type: 'secret.read', actor: payments, component: 'vault', resource: 'kv/payments/card-key', times: 100, every: 500 }], fires: 'secret_reads' },
  { name: 'unusual secret reads: one principal walks 20 paths', steps: [{ type: 'secret.read', actor: payments, component: 'vault', resource: 'kv/other/{i}', times: 20 }], fires: 'secret_reads' },
  { name: 'normal: a service re-reads its own key now and then', steps: [{ type: 'secret.read', actor: payments, component: 'vault', resource: 'kv/payments/card-key', times: 60, every: 10_000 }] },
]

for (const c of CASES) {
  test(`${c.fires ? 'fires' : 'stays quiet'}: ${c.name}`, () => {
    const found = run(c.steps)
    if (!c.fires) {
      assert.deepEqual(found.map((d) => d.detector), [])
      return
    }
    assert.deepEqual(found.map((d) => d.detector), [c.fires], 'exactly one alert, no repeats while it continues')
    if (c.response) assert.deepEqual({ ...found[0]!.response, seconds: undefined }, { ...c.response, seconds: undefined })
    else assert.equal(found[0]!.response, undefined)
  })
}

test('one alert per key per window: a continuing attack does not flood, a new window alerts again', () => {
  const found = run([
    { type: 'login.failed', actor: alice, times: 30, every: 1000 },
    { type: 'login.succeeded', actor: alice, every: 3600_000 },
    { type: 'login.failed', actor: alice, times: 10, every: 1000 },
  ])
  assert.deepEqual(found.map((d) => d.detector), ['brute_force', 'brute_force'])
})

test('ignores its own alert events and events claiming another component\'s voice only by type', () => {
  assert.deepEqual(run([{ type: 'login.failed', actor: alice, component: 'audit', times: 20 }]), [])
})
