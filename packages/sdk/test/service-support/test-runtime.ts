// A ComponentRuntime for tests: a testkit SVID, real mTLS agents to peers,
// an in-memory audit sink, a home in a temp dir and an injectable clock.
import type { AddressInfo } from 'node:net'
import type { Agent } from 'undici'
import type { FastifyInstance } from 'fastify'
import {
  createHealth, createMemoryAuditSink, createMetrics, createMtlsAgent, createLogger, createRevocationSet,
  expectSpiffeId, homePaths, mtlsServerOptions, serviceSpiffeId, systemClock,
  type AuditEvent, type AuditSink, type Clock, type MutableSvidSource,
} from '@bulwark/core'
import type { TestCa } from '@bulwark/testkit'
import type { ComponentRuntime } from '../../src/runtime/index.ts'

export type TestRuntime = ComponentRuntime & { logs: string[]; audit: AuditSink & { events: AuditEvent[] }; source: MutableSvidSource; closeAgents(): Promise<void> }

export async function createTestRuntime(options: {
  ca: TestCa
  name: string
  home: string
  publicUrl: string
  peers: Record<string, string>
  /** gRPC listeners by peer name (read at call time, like `peers`). */
  grpcPeers?: Record<string, string>
  clock?: Clock
  config?: Record<string, unknown>
  demo?: boolean
}): Promise<TestRuntime> {
  const source = await options.ca.source(options.name)
  const td = options.ca.trustDomain
  const agents = new Map<string, Agent>()
  // Read at call time: a test may start a peer after this runtime exists.
  const peerInfo = new Proxy({} as Record<string, { url: string; spiffeId: string }>, {
    get: (_t, name: string) => (options.peers[name] ? { url: options.peers[name], spiffeId: serviceSpiffeId(td, name) } : undefined),
    ownKeys: () => Object.keys(options.peers),
    getOwnPropertyDescriptor: (_t, name: string) => (options.peers[name] ? { enumerable: true, configurable: true, value: { url: options.peers[name], spiffeId: serviceSpiffeId(td, name) } } : undefined),
  })
  const revocation = createRevocationSet()
  const logs: string[] = []
  const log = createLogger({ name: options.name, level: 'debug', destination: { write: (line: string) => { logs.push(line) } } })
  return {
    logs,
    bootstrap: {
      type: 'bootstrap', component: options.name, home: options.home, trustDomain: td, spiffeId: serviceSpiffeId(td, options.name),
      listen: { host: '127.0.0.1', port: 0 }, caUrl: 'https://127.0.0.1:1', publicUrl: options.publicUrl, svidTtlSeconds: 3600,
      peers: peerInfo, config: options.config ?? {}, demo: options.demo ?? false,
    },
    config: options.config ?? {}, demo: options.demo ?? false,
    log, metrics: createMetrics(options.name), health: createHealth(), clock: options.clock ?? systemClock,
    svid: source, source, revocation, audit: createMemoryAuditSink(options.name), paths: homePaths(options.home),
    peer(name) {
      const info = peerInfo[name]
      if (!info) throw new TypeError(`unknown peer \`${name}\``)
      let dispatcher = agents.get(name)
      if (!dispatcher) {
        dispatcher = createMtlsAgent(source, { verifyPeer: expectSpiffeId(info.spiffeId), revocation })
        agents.set(name, dispatcher)
      }
      const grpcUrl = options.grpcPeers?.[name]
      return { url: info.url, spiffeId: info.spiffeId, dispatcher, ...(grpcUrl ? { grpcUrl } : {}) }
    },
    httpsOptions: () => mtlsServerOptions(source),
    async closeAgents() { await Promise.allSettled([...agents.values()].map((a) => a.close())) },
  }
}

/** Listens on 127.0.0.1:0 and returns the https URL. */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

/** An mTLS client presenting `name`'s SVID that expects the server to be `server`. */
export async function mtlsClient(ca: TestCa, name: string, server: string): Promise<Agent> {
  const source = await ca.source(name)
  return createMtlsAgent(source, { verifyPeer: expectSpiffeId(serviceSpiffeId(ca.trustDomain, server)) })
}
