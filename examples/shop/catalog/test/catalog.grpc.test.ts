// The catalog's gRPC API (proto/catalog.proto) through a real gateway over
// real TLS: the gateway (createGateway, the default route table and the
// platform's default Cedar policies) in front of the real catalog's gRPC
// listener (sdk createSecureGrpcServer, mTLS with testkit SVIDs), the fake
// identity issuing tokens and doing the token exchange. The client is
// @grpc/grpc-js, as a user's would be.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect as h2connect, type IncomingHttpHeaders } from 'node:http2'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { once } from 'node:events'
import grpc from '@grpc/grpc-js'
import type { Agent } from 'undici'
import { createMemoryAuditSink, createMetrics, createMtlsAgent, createSilentLogger, expectSpiffeId, serviceSpiffeId, type AuditEvent } from '@bulwark/core'
import { freePort } from '@bulwark/testkit'
import { createGateway, type Gateway } from '@bulwark/gateway'
import { createGrpcCaller } from '@bulwark/sdk/grpc'
import { PUBLIC_URL, startTestPlatform, type TestPlatform, type TestRuntime } from '../../../../packages/sdk/test/service-support/index.ts'
import { createCatalog, loadCatalogProto, SEED_PRODUCTS, type Catalog } from '../src/index.ts'

const Catalog = loadCatalogProto()
type Product = { id: string; name: string; description: string; price: number; currency: string; createdAt: string }
type GrpcError = grpc.ServiceError
type UnaryFn = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: GrpcError | null, reply: unknown) => void) => void

let p: TestPlatform
let rt: TestRuntime
let catalog: Catalog
const gateways: Array<{ gateway: Gateway; agents: Agent[] }> = []
let main: { port: number; audit: ReturnType<typeof createMemoryAuditSink> }
let limited: { port: number }
const clients: grpc.Client[] = []

/** A real gateway on localhost in front of the catalog; `grpcUrl` overrides where catalog's gRPC listener is said to be. */
async function startGateway(config: Record<string, unknown>, grpcUrl: string) {
  const source = await p.ca.source('gateway', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] })
  const agents: Agent[] = []
  const peer = (name: string) => {
    const url = p.peers[name]
    if (!url) throw new TypeError(`unknown peer \`${name}\``)
    const spiffeId = serviceSpiffeId(p.ca.trustDomain, name)
    const dispatcher = createMtlsAgent(source, { verifyPeer: expectSpiffeId(spiffeId) })
    agents.push(dispatcher)
    return { url, spiffeId, dispatcher, ...(name === 'catalog' ? { grpcUrl } : {}) }
  }
  const audit = createMemoryAuditSink('gateway')
  const gateway = createGateway({ publicUrl: PUBLIC_URL, feeds: { blocks: false, waitSeconds: 1 }, ...config }, {
    log: createSilentLogger(), metrics: createMetrics('gateway'), audit, clock: p.clock, svid: source, authorizer: p.authorizer, peer, publicUrl: PUBLIC_URL,
  })
  const port = await freePort()
  await gateway.app.listen({ host: 'localhost', port })
  gateways.push({ gateway, agents })
  return { port, audit }
}

function client(port: number): InstanceType<typeof Catalog> {
  const c = new Catalog(`localhost:${port}`, grpc.credentials.createSsl(Buffer.from(p.ca.rootPem)))
  clients.push(c)
  return c
}

function call<T>(port: number, method: string, request: object, token?: string): Promise<T> {
  const metadata = new grpc.Metadata()
  if (token) metadata.set('authorization', `Bearer ${token}`)
  const c = client(port) as unknown as Record<string, UnaryFn>
  return new Promise((resolve, reject) => {
    c[method]!.call(c, request, metadata, { deadline: Date.now() + 10_000 }, (error, reply) => (error ? reject(error) : resolve(reply as T)))
  })
}

async function refusal(promise: Promise<unknown>): Promise<GrpcError> {
  try {
    await promise
  } catch (error) {
    return error as GrpcError
  }
  assert.fail('the call succeeded')
}

/** A raw HTTP/2 gRPC request with hand-made frames (what grpc-js would never send). */
async function rawCall(port: number, path: string, body: Buffer): Promise<IncomingHttpHeaders> {
  const session = h2connect(`https://localhost:${port}`, { ca: p.ca.rootPem })
  try {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' })
    stream.end(body)
    const status: IncomingHttpHeaders = {}
    stream.on('response', (headers) => Object.assign(status, headers))
    stream.on('trailers', (headers) => Object.assign(status, headers))
    stream.resume()
    await once(stream, 'close')
    return status
  } finally {
    session.close()
  }
}

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length, message. */
function frame(message: Buffer, flag = 0): Buffer {
  const prefix = Buffer.alloc(5)
  prefix[0] = flag
  prefix.writeUInt32BE(message.length, 1)
  return Buffer.concat([prefix, message])
}

before(async () => {
  p = await startTestPlatform()
  rt = await p.runtime('catalog')
  catalog = await createCatalog({ seed: true, defaultPageSize: 20, grpcPort: 0 }, { rt, authorizer: p.authorizer })
  await p.serve('catalog', catalog.app)
  p.grpcPeers.catalog = `https://127.0.0.1:${catalog.grpcPort}`
  main = await startGateway({ limits: { maxBodyBytes: 1024 } }, p.grpcPeers.catalog)
  // A second edge: a tight anonymous limit, and a catalog gRPC address where nothing listens.
  limited = await startGateway({ rateLimit: { anonymous: { rate: 0.001, burst: 2 } } }, `https://127.0.0.1:${await freePort()}`)
})

after(async () => {
  for (const c of clients) c.close()
  for (const { gateway, agents } of gateways) {
    await gateway.close()
    await Promise.allSettled(agents.map((a) => a.close()))
  }
  await catalog.close()
  await p.close()
})

const alice = () => p.identity.userToken({ sub: 'alice', roles: ['customer'] })
const admin = (amr: string[]) => p.identity.userToken({ sub: 'admin', roles: ['admin'], amr })
const events = (type: string, route: string): AuditEvent[] => main.audit.events.filter((e) => e.type === type && e.route === route)

test('gRPC through the gateway: anyone lists and gets products, alice included', async () => {
  const anonymous = await call<{ products: Product[]; nextCursor: string }>(main.port, 'ListProducts', {})
  assert.equal(anonymous.products.length, SEED_PRODUCTS.length)
  const page = await call<{ products: Product[]; nextCursor: string }>(main.port, 'ListProducts', { pageSize: 5 }, await alice())
  assert.equal(page.products.length, 5)
  assert.notEqual(page.nextCursor, '')
  const next = await call<{ products: Product[] }>(main.port, 'ListProducts', { pageSize: 5, cursor: page.nextCursor }, await alice())
  assert.notEqual(next.products[0]!.id, page.products[0]!.id)
  const one = await call<Product>(main.port, 'GetProduct', { id: page.products[0]!.id }, await alice())
  assert.equal(one.name, SEED_PRODUCTS[0]!.name)
  assert.equal((await refusal(call(main.port, 'GetProduct', { id: 'prod_nope' }))).code, grpc.status.NOT_FOUND)
})

test('gRPC through the gateway: alice may not create a product (PERMISSION_DENIED), audited, catalog unchanged', async () => {
  const before = await catalog.store.count()
  const error = await refusal(call(main.port, 'CreateProduct', { name: 'Forged', price: 1 }, await alice()))
  assert.equal(error.code, grpc.status.PERMISSION_DENIED)
  assert.equal(error.metadata.get('bulwark-code')[0], 'BW_AUTHZ_ROLE_MISSING')
  assert.equal(await catalog.store.count(), before)
  assert.ok(events('authz.denied', 'catalog.grpc.createProduct').some((e) => e.actor.id === 'alice'))
})

test('gRPC through the gateway: CreateProduct without a token is UNAUTHENTICATED', async () => {
  const before = await catalog.store.count()
  const error = await refusal(call(main.port, 'CreateProduct', { name: 'Anonymous', price: 1 }))
  assert.equal(error.code, grpc.status.UNAUTHENTICATED)
  assert.equal(error.metadata.get('bulwark-code')[0], 'BW_AUTHN_TOKEN_MISSING')
  assert.equal(await catalog.store.count(), before)
  assert.ok(events('authn.failed', 'catalog.grpc.createProduct').length > 0)
})

test('gRPC through the gateway: an admin signed in with a second factor creates a product; without it PERMISSION_DENIED', async () => {
  const denied = await refusal(call(main.port, 'CreateProduct', { name: 'No MFA', price: 1 }, await admin(['pwd'])))
  assert.equal(denied.code, grpc.status.PERMISSION_DENIED)
  const created = await call<Product>(main.port, 'CreateProduct', { name: 'Gateway gRPC lamp', description: 'made over gRPC', price: 4200, currency: 'EUR' }, await admin(['pwd', 'otp']))
  assert.match(created.id, /^prod_/)
  assert.equal(created.price, 4200)
  assert.equal((await catalog.store.get(created.id))?.name, 'Gateway gRPC lamp')
  const bad = await refusal(call(main.port, 'CreateProduct', { name: '', price: 1 }, await admin(['pwd', 'otp'])))
  assert.equal(bad.code, grpc.status.INVALID_ARGUMENT)
})

test('gRPC through the gateway: a message over the size limit or with broken framing is INVALID_ARGUMENT and never reaches the catalog', async () => {
  const before = await catalog.store.count()
  // Valid for the catalog (description up to 2000 characters) but over this gateway's 1024-byte limit.
  const big = await refusal(call(main.port, 'CreateProduct', { name: 'Big', description: 'x'.repeat(1500), price: 1 }, await admin(['pwd', 'otp'])))
  assert.equal(big.code, grpc.status.INVALID_ARGUMENT)
  assert.equal(big.metadata.get('bulwark-code')[0], 'BW_GRPC_MESSAGE_TOO_LARGE')
  assert.equal(await catalog.store.count(), before)
  const truncated = await rawCall(main.port, '/shop.catalog.v1.Catalog/ListProducts', Buffer.from([0, 0, 0, 0, 100, 8, 5]))
  assert.equal(truncated['grpc-status'], String(grpc.status.INVALID_ARGUMENT))
  assert.equal(truncated['bulwark-code'], 'BW_GRPC_MALFORMED')
  const compressed = await rawCall(main.port, '/shop.catalog.v1.Catalog/ListProducts', frame(Buffer.from([8, 5]), 1))
  assert.equal(compressed['grpc-status'], String(grpc.status.INVALID_ARGUMENT))
  assert.equal(compressed['bulwark-code'], 'BW_GRPC_MALFORMED')
  assert.equal(compressed['content-type'], 'application/grpc')
})

test('gRPC through the gateway: an unknown method is UNIMPLEMENTED, never a JSON or HTML body', async () => {
  const answer = await rawCall(main.port, '/shop.catalog.v1.Catalog/DeleteProduct', frame(Buffer.alloc(0)))
  assert.equal(answer[':status'], 200)
  assert.equal(answer['content-type'], 'application/grpc')
  assert.equal(answer['grpc-status'], String(grpc.status.UNIMPLEMENTED))
  const internal = await rawCall(main.port, '/internal/products', frame(Buffer.alloc(0)))
  assert.equal(internal['grpc-status'], String(grpc.status.UNIMPLEMENTED))
})

test('gRPC through the gateway: a catalog that is down is UNAVAILABLE, and past the rate limit RESOURCE_EXHAUSTED', async () => {
  const down = await refusal(call(limited.port, 'ListProducts', {}))
  assert.equal(down.code, grpc.status.UNAVAILABLE)
  await refusal(call(limited.port, 'ListProducts', {}))
  const limitedError = await refusal(call(limited.port, 'ListProducts', {}))
  assert.equal(limitedError.code, grpc.status.RESOURCE_EXHAUSTED)
  assert.equal(limitedError.metadata.get('bulwark-code')[0], 'BW_RATE_LIMITED')
  assert.ok(Number(limitedError.metadata.get('retry-after')[0]) >= 1)
})

test('catalog gRPC: the sdk caller exchanges the token; a workload the call policy does not allow is PERMISSION_DENIED', async () => {
  p.identity.exchangeRules.orders = ['payments', 'catalog']
  const gatewayRt = await p.runtime('gateway')
  const ordersRt = await p.runtime('orders')
  const fromGateway = createGrpcCaller(gatewayRt)
  const fromOrders = createGrpcCaller(ordersRt)
  try {
    const subjectToken = await admin(['pwd', 'otp'])
    const created = await fromGateway.unary<Product>('catalog', Catalog, 'CreateProduct', { name: 'Via sdk', price: 5 }, { subjectToken })
    assert.equal((await catalog.store.get(created.id))?.name, 'Via sdk')
    // Segmentation: orders may only GET from the catalog; a gRPC call is `POST /shop.catalog.v1.Catalog/<Method>`.
    const error = await refusal(fromOrders.unary('catalog', Catalog, 'GetProduct', { id: created.id }, { subjectToken }))
    assert.equal(error.code, grpc.status.PERMISSION_DENIED)
    assert.equal(error.metadata.get('bulwark-code')[0], 'BW_PEER_IDENTITY')
    assert.ok(rt.audit.events.some((e) => e.type === 'authz.denied' && e.reason === 'BW_PEER_IDENTITY' && e.actor.spiffeId === serviceSpiffeId(p.ca.trustDomain, 'orders')))
  } finally {
    fromGateway.close()
    fromOrders.close()
  }
})

test('catalog gRPC: a token addressed to another service is UNAUTHENTICATED', async () => {
  const gatewayRt = await p.runtime('gateway')
  const token = await p.identity.tokenFor('users', { sub: 'alice' })
  const c = new Catalog(new URL(p.grpcPeers.catalog!).host, (await import('@bulwark/sdk/grpc')).svidChannelCredentials(gatewayRt.svid, serviceSpiffeId(p.ca.trustDomain, 'catalog')))
  clients.push(c)
  const metadata = new grpc.Metadata()
  metadata.set('authorization', `Bearer ${token}`)
  const error = await refusal(new Promise((resolve, reject) => {
    (c as unknown as Record<string, UnaryFn>).CreateProduct!.call(c, { name: 'x', price: 1 }, metadata, {}, (e, r) => (e ? reject(e) : resolve(r)))
  }))
  assert.equal(error.code, grpc.status.UNAUTHENTICATED)
  assert.equal(error.metadata.get('bulwark-code')[0], 'BW_AUTHN_TOKEN_AUDIENCE')
})

test('catalog gRPC: the listener presents a rotated SVID to new connections without a restart', async () => {
  const next = await p.ca.issue('catalog')
  rt.source.update(next)
  const client = await p.ca.issue('gateway')
  const socket: TLSSocket = tlsConnect({
    host: '127.0.0.1', port: catalog.grpcPort!, ca: client.bundlePem, key: client.keyPem, cert: `${client.certPem.trim()}\n${client.chainPem.trim()}\n`,
    ALPNProtocols: ['h2'], checkServerIdentity: () => undefined,
  })
  await once(socket, 'secureConnect')
  const serial = socket.getPeerCertificate().serialNumber.toUpperCase()
  socket.destroy()
  assert.equal(serial, next.serial.toUpperCase())
})
