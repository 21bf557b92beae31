// bench/gateway: in one run, on one upstream, requests/s and p50/p99 of
//   (a) the upstream directly, (b) the gateway's full pipeline with a valid token,
//   (c) a bare nginx reverse proxy, (d) HAProxy with jwt_verify + stick-table rate limit;
// then latency at half of (b)'s peak (paced, open loop) to get the p99 the gateway adds.
// Targets (DESIGN.md): (b) ≥ 50% of (c), (b) ≥ (d), < 1 ms added p99 at half of (b)'s peak.
// Bounded (≈45 s), loopback only. `node bench/gateway/index.ts`
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:https'
import { join } from 'node:path'
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, jwtVerify, createLocalJWKSet, type JWK } from 'jose'
import { createTestCa, freePorts, tempDir } from '@bulwark/testkit'
import { closedLoop, paced, type LoadResult } from './load.ts'
import { cpuSeconds, ensureInstalled, startHaproxy, startNginx, templateDir, type Peer } from './peers.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const PATH = '/api/orders/o1'
const watchdog = setTimeout(() => { process.stderr.write('bench/gateway: watchdog fired after 110 s\n'); process.exit(1) }, 110_000)
watchdog.unref()

const tools = ensureInstalled({ nginx: 'nginx', haproxy: 'haproxy', wrk: 'wrk' })
using dir = tempDir('bench-gateway-')
const ca = await createTestCa({ trustDomain: 'bulwark.local' })
const td = ca.trustDomain
const [gatewayPort, nginxHttp, nginxTls, haHttp, haTls] = await freePorts(5)
const publicUrl = `https://localhost:${gatewayPort}`

// Signing key (RS256: both the gateway and HAProxy 2.6 verify it) and a stand-in for identity.
const signing = await generateKeyPair('RS256', { extractable: true })
const jwks: { keys: JWK[] } = { keys: [{ ...await exportJWK(signing.publicKey), kid: 'bench', alg: 'RS256', use: 'sig' }] }
const now = Math.floor(Date.now() / 1000)
const token = await new SignJWT({ sub: 'alice', client_id: 'shop-cli', scope: 'openid', roles: ['customer'], jti: 'bench-1' })
  .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'bench' }).setIssuer(publicUrl).setAudience(publicUrl)
  .setIssuedAt(now).setExpirationTime(now + 600).sign(signing.privateKey)
const identitySvid = await ca.issue('identity')
const identity = createServer({
  key: identitySvid.keyPem, cert: `${identitySvid.certPem}\n${identitySvid.chainPem}`, ca: identitySvid.bundlePem,
  requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3',
}, (req, res) => {
  let body = ''
  req.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', async () => {
    const url = new URL(req.url!, 'https://x')
    const json = (value: unknown) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(value)) }
    if (url.pathname === '/oauth2/jwks') return json(jwks)
    if (url.pathname === '/admin/v1/revocations') {
      const wait = Math.min(Number(url.searchParams.get('wait') ?? 0), 30)
      const timer = setTimeout(() => json({ seq: 0, entries: [] }), wait * 1000)
      res.on('close', () => clearTimeout(timer))
      return
    }
    if (url.pathname === '/oauth2/token') {
      const form = new URLSearchParams(body)
      const { payload } = await jwtVerify(form.get('subject_token')!, createLocalJWKSet(jwks), { issuer: publicUrl })
      const exchanged = await new SignJWT({ sub: payload.sub, client_id: payload.client_id, scope: payload.scope, act: { sub: `spiffe://${td}/svc/gateway` } })
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'bench' }).setIssuer(publicUrl).setAudience(form.get('audience')!)
        .setIssuedAt().setExpirationTime('5m').sign(signing.privateKey)
      return json({ access_token: exchanged, token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', expires_in: 300 })
    }
    res.writeHead(404).end()
  })
})
identity.listen(0, '127.0.0.1')
await once(identity, 'listening')
const identityUrl = `https://127.0.0.1:${(identity.address() as { port: number }).port}`

// The upstream, in its own process.
const upstream = fork(new URL('./upstream.ts', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
upstream.send({ svid: await ca.issue('orders') })
const [ports] = await once(upstream, 'message') as [{ http: number; https: number }]

// The gateway, in its own process.
// BENCH_PROFILE=<dir>: the gateway writes a V8 CPU profile there when the run ends.
const profileDir = process.env.BENCH_PROFILE
const gateway = fork(new URL('./gateway-process.ts', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...(process.env.BENCH_GATEWAY_FLAGS ?? '').split(' ').filter(Boolean), ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])] })
gateway.send({
  svid: await ca.issue('gateway', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] }), publicUrl, port: gatewayPort,
  identity: { url: identityUrl, spiffeId: `spiffe://${td}/svc/identity` }, orders: { url: `https://127.0.0.1:${ports.https}`, spiffeId: `spiffe://${td}/svc/orders` },
})
await once(gateway, 'message')

// The Node.js floor: the same mTLS upstream leg with no security work (node-floor.ts).
const floor = fork(new URL('./node-floor.ts', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
floor.send({ svid: await ca.issue('gateway'), edge: await ca.issue('floor', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }), upstream: { url: `https://127.0.0.1:${ports.https}`, spiffeId: `spiffe://${td}/svc/orders` } })
const [{ port: floorPort }] = await once(floor, 'message') as [{ port: number }]

// Edge material for the peers: a localhost certificate from the same CA.
const edge = await ca.issue('edge', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
const certFile = join(dir.path, 'edge.crt')
const keyFile = join(dir.path, 'edge.key')
const pemFile = join(dir.path, 'edge.pem')
const pubFile = join(dir.path, 'jwt.pub')
writeFileSync(certFile, `${edge.certPem.trim()}\n${edge.chainPem.trim()}\n`, { mode: 0o644 })
writeFileSync(keyFile, edge.keyPem, { mode: 0o600 })
writeFileSync(pemFile, `${edge.certPem.trim()}\n${edge.chainPem.trim()}\n${edge.keyPem.trim()}\n`, { mode: 0o600 })
writeFileSync(pubFile, await exportSPKI(signing.publicKey), { mode: 0o644 })

const upstreamHostPort = `127.0.0.1:${ports.http}`
const auth = { authorization: `Bearer ${token}` }
const notes: string[] = []

if (process.env.BENCH_HOLD) {
  // Debug aid: leave the gateway up for manual load and print how to reach it.
  writeFileSync('/tmp/bench-gateway-hold.json', JSON.stringify({ url: `https://127.0.0.1:${gatewayPort}${PATH}`, upstream: `http://${upstreamHostPort}${PATH}`, token }))
  await new Promise((resolve) => setTimeout(resolve, Number(process.env.BENCH_HOLD) * 1000))
}

// Check a target answers 200 before loading it.
async function answers(url: string, headers: Record<string, string>): Promise<boolean> {
  const r = await paced(url, { rate: 20, seconds: 0.25, connections: 1, headers, ca: ca.rootPem })
  return r.errors === 0
}

type Target = { key: 'a' | 'b' | 'c' | 'd' | 'e'; label: string; url: string; headers: Record<string, string>; pid: number }
const targets: Target[] = [
  { key: 'a', label: '(a)', url: `http://${upstreamHostPort}${PATH}`, headers: {}, pid: upstream.pid! },
  { key: 'b', label: '(b)', url: `https://127.0.0.1:${gatewayPort}${PATH}`, headers: auth, pid: gateway.pid! },
  { key: 'e', label: '(e)', url: `https://127.0.0.1:${floorPort}${PATH}`, headers: auth, pid: floor.pid! },
]
const peers: Peer[] = []
if (tools.nginx && templateDir()) {
  try {
    const nginx = await startNginx(dir.path, { httpPort: nginxHttp!, tlsPort: nginxTls!, upstream: upstreamHostPort, cert: certFile, key: keyFile })
    peers.push(nginx)
    targets.push({ key: 'c', label: '(c)', url: `https://127.0.0.1:${nginxTls}${PATH}`, headers: auth, pid: nginx.pid })
  } catch (error) {
    notes.push(`(c) nginx: ${(error as Error).message.slice(0, 300)}`)
  }
} else notes.push('(c) nginx not available')
if (tools.haproxy && templateDir()) {
  try {
    const haproxy = await startHaproxy(dir.path, {
      httpPort: haHttp!, tlsPort: haTls!, upstream: upstreamHostPort, pem: pemFile, alg: 'RS256', issuer: publicUrl, audience: publicUrl,
      publicKey: pubFile, ratePer10s: 10_000_000,
    })
    peers.push(haproxy)
    targets.push({ key: 'd', label: '(d)', url: `https://127.0.0.1:${haTls}${PATH}`, headers: auth, pid: haproxy.pid })
  } catch (error) {
    notes.push(`(d) haproxy: ${(error as Error).message.slice(0, 300)}`)
  }
} else notes.push('(d) haproxy not available')
const only = process.env.BENCH_ONLY
if (only) for (const target of [...targets]) if (!only.includes(target.key)) targets.splice(targets.indexOf(target), 1)
for (const target of [...targets]) {
  if (!(await answers(target.url, target.headers))) {
    notes.push(`${target.label} did not answer 200 to the check request; skipped`)
    targets.splice(targets.indexOf(target), 1)
  }
}

// Interleaved rounds, so a busy neighbour on the machine hits every target alike; the median round counts.
const runs: Record<string, LoadResult[]> = {}
// CPU time the target process itself spent per request: robust when the machine is shared, unlike wall-clock req/s.
const cpuPerRequest: Record<string, number[]> = {}
for (const target of targets) await closedLoop(target.url, { connections: CONNECTIONS, seconds: 1, headers: target.headers, ca: ca.rootPem }, tools.wrk!)
for (let round = 0; round < ROUNDS; round++) {
  for (const target of targets) {
    const cpuBefore = cpuSeconds([target.pid])
    const result = await closedLoop(target.url, { connections: CONNECTIONS, seconds: SECONDS, headers: target.headers, ca: ca.rootPem }, tools.wrk!)
    const served = result.rps * SECONDS
    if (served > 0) (cpuPerRequest[target.key] ??= []).push(((cpuSeconds([target.pid]) - cpuBefore) / served) * 1e6)
    if (result.errors > 0) notes.push(`${target.label} round ${round + 1}: ${result.errors} errors/non-2xx`)
    ;(runs[target.key] ??= []).push(result)
  }
}
const median = (list: LoadResult[] | undefined): LoadResult | undefined => {
  if (!list || list.length === 0) return undefined
  const sorted = [...list].sort((x, y) => x.rps - y.rps)
  return sorted[Math.floor((sorted.length - 1) / 2)]
}
const results: Record<string, LoadResult | undefined> = { a: median(runs.a), b: median(runs.b), c: median(runs.c), d: median(runs.d), e: median(runs.e) }

// Latency at half of (b)'s peak, paced: what the gateway adds over the upstream.
const rate = Math.max(50, Math.floor((results.b?.rps ?? 200) / 2))
const pacedA = await paced(`http://${upstreamHostPort}${PATH}`, { rate, seconds: SECONDS, connections: CONNECTIONS, headers: {} })
const pacedB = await paced(`https://127.0.0.1:${gatewayPort}${PATH}`, { rate, seconds: SECONDS, connections: CONNECTIONS, headers: auth, ca: ca.rootPem })
// The peers at the same rate: what this machine and load generator let any TLS proxy reach.
const pacedPeers: Array<{ label: string; result: LoadResult }> = []
for (const target of targets.filter((t) => t.key === 'c' || t.key === 'd')) {
  pacedPeers.push({ label: target.label, result: await paced(target.url, { rate, seconds: SECONDS, connections: CONNECTIONS, headers: target.headers, ca: ca.rootPem }) })
}
for (const peer of peers) await peer.stop()

const cpu = (key: string) => {
  const list = [...(cpuPerRequest[key] ?? [])].sort((x, y) => x - y)
  return list.length ? list[Math.floor((list.length - 1) / 2)]! : Number.NaN
}
const row = (name: string, r: LoadResult | undefined, key: string) => r
  ? `${name.padEnd(36)} ${r.rps.toFixed(0).padStart(9)} ${r.p50.toFixed(2).padStart(9)} ${r.p99.toFixed(2).padStart(9)} ${cpu(key).toFixed(0).padStart(12)}`
  : `${name.padEnd(36)} ${'n/a'.padStart(9)}`
const cpuRatio = (x: string, y: string) => cpu(y) / cpu(x)
const ratio = (x?: LoadResult, y?: LoadResult) => x && y && y.rps > 0 ? x.rps / y.rps : Number.NaN
const bc = ratio(results.b, results.c)
const bd = ratio(results.b, results.d)
const added = pacedB.p99 - pacedA.p99
// How many mTLS connections the upstream accepted (gateway and floor): a pool that keeps its connections opens few.
upstream.send('stats')
const [{ tlsConnections }] = await once(upstream, 'message') as [{ tlsConnections: number }]
notes.push(`the upstream accepted ${tlsConnections} mTLS connections in the whole run`)
const lines = [
  `bench/gateway — ${CONNECTIONS} connections, median of ${ROUNDS} interleaved ${SECONDS} s rounds per target, load generator: ${tools.wrk ? 'wrk -t1' : 'undici loop'}, GET ${PATH}`,
  `${'target'.padEnd(36)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'CPU µs/req'.padStart(12)}`,
  row('(a) upstream directly (HTTP)', results.a, 'a'),
  row('(b) gateway, full pipeline (TLS)', results.b, 'b'),
  row('(c) nginx bare proxy (TLS)', results.c, 'c'),
  row('(d) HAProxy jwt_verify+limit (TLS)', results.d, 'd'),
  row('(e) Node.js floor: bare mTLS proxy', results.e, 'e'),
  '',
  `(b)/(c) throughput = ${bc.toFixed(2)}   (target ≥ 0.50: ${bc >= 0.5 ? 'met' : 'NOT met'})`,
  `(b)/(d) throughput = ${bd.toFixed(2)}   (target ≥ 1.00: ${bd >= 1 ? 'met' : 'NOT met'})`,
  `(b)/(e) throughput = ${ratio(results.b, results.e).toFixed(2)}   (the security pipeline's cost over the least any Node.js proxy does); (e)/(c) = ${ratio(results.e, results.c).toFixed(2)}, (e)/(d) = ${ratio(results.e, results.d).toFixed(2)}`,
  `per-core capacity from CPU/request (less sensitive to a busy machine): (b)/(c) = ${cpuRatio('b', 'c').toFixed(2)}, (b)/(d) = ${cpuRatio('b', 'd').toFixed(2)}`,
  `paced at ${rate} req/s (half of (b)'s peak): p50/p99 direct ${pacedA.p50.toFixed(2)}/${pacedA.p99.toFixed(2)} ms, gateway ${pacedB.p50.toFixed(2)}/${pacedB.p99.toFixed(2)} ms`,
  `added p99 = ${added.toFixed(2)} ms   (target < 1 ms: ${added < 1 ? 'met' : 'NOT met'})${pacedB.errors > 0 ? `  [${pacedB.errors} errors]` : ''}`,
  ...pacedPeers.map(({ label, result }) => `  same rate through ${label}: p50/p99 ${result.p50.toFixed(2)}/${result.p99.toFixed(2)} ms, added p99 ${(result.p99 - pacedA.p99).toFixed(2)} ms`),
  ...notes.map((n) => `note: ${n}`),
]
process.stdout.write(`${lines.join('\n')}\n`)
try {
  const out = new URL('../results/', import.meta.url)
  mkdirSync(out, { recursive: true })
  writeFileSync(new URL('gateway.json', out), JSON.stringify({ at: new Date().toISOString(), results, cpuPerRequestMicros: { a: cpu('a'), b: cpu('b'), c: cpu('c'), d: cpu('d'), e: cpu('e') }, ratios: { bc, bd, cpuBc: cpuRatio('b', 'c'), cpuBd: cpuRatio('b', 'd') }, paced: { rate, direct: pacedA, gateway: pacedB, addedP99: added, peers: pacedPeers }, notes }, null, 2))
} catch { /* results are also on stdout */ }

upstream.disconnect()
floor.disconnect()
gateway.disconnect()
upstream.kill()
if (profileDir) await once(gateway, 'exit')
gateway.kill()
identity.closeAllConnections()
identity.close()
