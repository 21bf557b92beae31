// The gateway under test, in its own process (one worker, like the peers):
// the full pipeline, rate limits raised so they count but never refuse.
import { readFileSync, existsSync } from 'node:fs'
import { createMemoryAuditSink, createMetrics, createMtlsAgent, createSilentLogger, createSvidSource, expectSpiffeId, type Svid, type Authorizer } from '@bulwark/core'
import { createCedarAuthorizer } from '@bulwark/sdk/policy'
import { createGateway } from '../../packages/gateway/src/index.ts'

type Start = { svid: Svid; publicUrl: string; port: number; identity: { url: string; spiffeId: string }; orders: { url: string; spiffeId: string } }

function authorizer(): Authorizer {
  const dir = new URL('../../packages/policy/', import.meta.url)
  const schema = new URL('schema/bulwark.cedarschema', dir)
  const files = ['gateway.cedar', 'shop.cedar'].map((f) => new URL(`policies/${f}`, dir))
  if (existsSync(schema) && files.every((f) => existsSync(f))) {
    return createCedarAuthorizer({ schema: readFileSync(schema, 'utf8'), policies: files.map((f) => readFileSync(f, 'utf8')).join('\n') })
  }
  return createCedarAuthorizer({ policies: 'permit(principal is User, action == Action::"orders.get", resource);' })
}

process.once('message', async (message: Start) => {
  const source = createSvidSource(message.svid)
  const peers: Record<string, { url: string; spiffeId: string }> = { identity: message.identity, orders: message.orders }
  const agents = new Map<string, ReturnType<typeof createMtlsAgent>>()
  const peer = (name: string) => {
    const target = peers[name]
    if (!target) throw new TypeError(`unknown peer \`${name}\``)
    let dispatcher = agents.get(name)
    if (!dispatcher) agents.set(name, dispatcher = createMtlsAgent(source, { verifyPeer: expectSpiffeId(target.spiffeId), connections: Number(process.env.BENCH_UPSTREAM_CONNECTIONS ?? 64), pipelining: Number(process.env.BENCH_UPSTREAM_PIPELINING ?? 1) }))
    return { ...target, dispatcher }
  }
  const huge = { rate: 1e6, burst: 1e6 }
  const gateway = createGateway({
    rateLimit: { anonymous: huge, client: huge, user: huge },
    feeds: { blocks: false },
    limits: { keepAliveTimeoutMs: 60_000 },
  }, {
    log: createSilentLogger(), metrics: createMetrics('gateway'), audit: createMemoryAuditSink('gateway'), svid: source,
    authorizer: authorizer(), peer, healthPeers: [], publicUrl: message.publicUrl,
  })
  await gateway.app.listen({ host: '127.0.0.1', port: message.port })
  process.send!({ ready: true })
})
process.on('disconnect', () => process.exit(0))
process.on('message', (m) => {
  if (m === 'exit') process.exit(0)
  if (m === 'cpu') process.send!({ cpu: process.cpuUsage() })
})
