// Shared set-up: a real policy service over mTLS with testkit SVIDs.
import { join } from 'node:path'
import { request } from 'undici'
import { type BootstrapMessage, attachMtls, createManualClock, createMemoryAuditSink, createMetrics, createMtlsAgent, createSilentLogger, expectSpiffeId, mtlsServerOptions, operatorSpiffeId } from '@bulwark/core'
import { createTestCa, tempDir, type TestCa } from '@bulwark/testkit'
import type { Agent } from 'undici'
import { createPolicyService, type PolicyService } from '../src/server.ts'

export type Harness = {
  ca: TestCa
  svc: PolicyService
  url: string
  port: number
  audit: ReturnType<typeof createMemoryAuditSink>
  clock: ReturnType<typeof createManualClock>
  dir: string
  agent(name: string): Promise<Agent>
  call(agent: Agent, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: any }>
  restart(): Promise<void>
  stop(): Promise<void>
  close(): Promise<void>
}

export async function startHarness(options: { config?: Record<string, unknown>; ca?: TestCa; storage?: BootstrapMessage['storage'] } = {}): Promise<Harness> {
  const ca = options.ca ?? await createTestCa()
  const dir = tempDir('bulwark-policy-')
  const source = await ca.source('policy')
  const audit = createMemoryAuditSink('policy')
  const clock = createManualClock(Date.UTC(2026, 5, 1))
  const agents: Agent[] = []
  let port = 0
  let svc!: PolicyService
  async function start() {
    svc = await createPolicyService({ trustDomain: ca.trustDomain, ...options.config }, {
      log: createSilentLogger(), audit, clock, metrics: createMetrics('policy'),
      databasePath: join(dir.path, 'policy.db'), storage: options.storage, https: mtlsServerOptions(source),
    })
    attachMtls(svc.app.server as never, source)
    await svc.app.listen({ host: '127.0.0.1', port })
    port = (svc.app.server.address() as { port: number }).port
  }
  await start()
  const h: Harness = {
    ca, audit, clock, dir: dir.path,
    get svc() { return svc },
    get port() { return port },
    get url() { return `https://127.0.0.1:${port}` },
    async agent(name) {
      const id = name === 'operator' ? operatorSpiffeId(ca.trustDomain) : name
      const a = createMtlsAgent(await ca.source(id), { verifyPeer: expectSpiffeId(source.current().spiffeId) })
      agents.push(a)
      return a
    },
    async call(agent, method, path, body, headers = {}) {
      const res = await request(`${h.url}${path}`, {
        method: method as 'GET', dispatcher: agent,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      })
      const text = await res.body.text()
      return { status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined }
    },
    async restart() { await start() },
    async stop() { await svc.close() },
    async close() {
      await svc.close()
      await Promise.all(agents.map((a) => a.close()))
      dir.remove()
    },
  } as Harness
  return h
}
