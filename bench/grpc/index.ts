// bench/grpc: what the gateway adds to a gRPC unary call. The same
// `shop.catalog.v1.Catalog/GetProduct` call (public route: no token, so no
// exchange), answered by a bare grpc-js server on an mTLS listener, made
//   direct:  grpc-js client → upstream over mTLS 1.3 (the gateway's SVID), and
//   gateway: grpc-js client → gateway (TLS, full pipeline: IP filter, rate-limit
//            stage with limits disabled, Cedar, per-message size check) → upstream.
// Closed loop at concurrency 1 (latency) and 16 (throughput). Everything runs in
// this one process on loopback, so client, gateway and upstream share its CPU:
// the figures are an upper bound on what a separate gateway process adds.
import { performance } from 'node:perf_hooks'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import grpc from '@grpc/grpc-js'
import { createMemoryAuditSink, createMetrics, createMtlsAgent, createSilentLogger, expectSpiffeId, serviceSpiffeId } from '@bulwark/core'
import { createTestCa, freePort } from '@bulwark/testkit'
import { createCedarAuthorizer } from '@bulwark/sdk/policy'
import { svidChannelCredentials, svidServerCredentials } from '@bulwark/sdk/grpc'
import { createGateway } from '../../packages/gateway/src/index.ts'
import { loadCatalogProto } from '../../examples/shop/catalog/src/grpc.ts'

const CALLS = Number(process.env.BENCH_GRPC_CALLS ?? 3000)
const policyDir = join(import.meta.dirname, '../../packages/policy')
const policies = readdirSync(join(policyDir, 'policies')).filter((f) => f.endsWith('.cedar')).sort().map((f) => readFileSync(join(policyDir, 'policies', f), 'utf8')).join('\n')
const authorizer = createCedarAuthorizer({ policies, schema: readFileSync(join(policyDir, 'schema', 'bulwark.cedarschema'), 'utf8') })

const Catalog = loadCatalogProto()
const ca = await createTestCa()
const product = { id: 'prod_1', name: 'Lamp', description: 'A lamp', price: 1200, currency: 'EUR', createdAt: new Date().toISOString() }

const upstreamSource = await ca.source('catalog')
const upstream = new grpc.Server()
upstream.addService(Catalog.service, {
  GetProduct: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, product),
  ListProducts: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { products: [product], nextCursor: '' }),
  CreateProduct: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback({ code: grpc.status.PERMISSION_DENIED }),
})
const credentials = svidServerCredentials(upstreamSource)
const upstreamPort = await new Promise<number>((resolve, reject) => upstream.bindAsync('127.0.0.1:0', credentials, (e, p) => (e ? reject(e) : resolve(p))))
const grpcUrl = `https://127.0.0.1:${upstreamPort}`

const gatewaySource = await ca.source('gateway', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] })
const catalogId = serviceSpiffeId(ca.trustDomain, 'catalog')
const dispatcher = createMtlsAgent(gatewaySource, { verifyPeer: expectSpiffeId(catalogId) })
const gateway = createGateway({
  publicUrl: 'https://localhost:8443', feeds: { revocations: false, blocks: false }, rateLimit: { enabled: false },
}, {
  log: createSilentLogger(), metrics: createMetrics('gateway'), audit: createMemoryAuditSink('gateway'), svid: gatewaySource, authorizer,
  peer: (name) => {
    if (name !== 'catalog') throw new TypeError(`unknown peer \`${name}\``)
    return { url: 'https://127.0.0.1:1', spiffeId: catalogId, dispatcher, grpcUrl }
  },
  publicUrl: 'https://localhost:8443',
})
const gatewayPort = await freePort()
await gateway.app.listen({ host: '127.0.0.1', port: gatewayPort })

const direct = new Catalog(`127.0.0.1:${upstreamPort}`, svidChannelCredentials(gatewaySource, catalogId))
const viaGateway = new Catalog(`127.0.0.1:${gatewayPort}`, grpc.credentials.createSsl(Buffer.from(ca.rootPem)), { 'grpc.ssl_target_name_override': 'localhost' })

function once(client: grpc.Client): Promise<void> {
  return new Promise((resolve, reject) => {
    (client as unknown as { GetProduct(r: object, cb: (e: Error | null) => void): void }).GetProduct({ id: 'prod_1' }, (e) => (e ? reject(e) : resolve()))
  })
}

async function run(client: grpc.Client, concurrency: number, calls: number): Promise<{ p50: number; p99: number; rps: number }> {
  const times: number[] = []
  let next = 0
  const start = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < calls) {
      const t = performance.now()
      await once(client)
      times.push(performance.now() - t)
    }
  }))
  const elapsed = (performance.now() - start) / 1000
  times.sort((a, b) => a - b)
  return { p50: times[Math.floor(times.length * 0.5)]!, p99: times[Math.floor(times.length * 0.99)]!, rps: times.length / elapsed }
}

for (const client of [direct, viaGateway]) await run(client, 4, 300) // warm-up: connections, JIT, caches

const rows: Array<[string, Awaited<ReturnType<typeof run>>]> = []
for (const concurrency of [1, 16]) {
  rows.push([`direct c=${concurrency}`, await run(direct, concurrency, CALLS)])
  rows.push([`gateway c=${concurrency}`, await run(viaGateway, concurrency, CALLS)])
}
console.log(`gRPC unary GetProduct, ${CALLS} calls per row, one process (client + gateway + upstream share its CPU)`)
console.log('| path | p50 ms | p99 ms | calls/s |')
console.log('|---|---|---|---|')
for (const [name, r] of rows) console.log(`| ${name} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.rps.toFixed(0)} |`)
const [d1, g1, d16, g16] = rows.map(([, r]) => r)
console.log(`added by the gateway at c=1: p50 +${(g1!.p50 - d1!.p50).toFixed(3)} ms, p99 +${(g1!.p99 - d1!.p99).toFixed(3)} ms; throughput at c=16: ${(g16!.rps / d16!.rps).toFixed(2)} of direct`)

direct.close()
viaGateway.close()
await gateway.close()
await dispatcher.close()
credentials.stop()
upstream.forceShutdown()
