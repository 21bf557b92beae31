// Audit benchmark: durable appends/s over mTLS (group commit, SQLite
// synchronous=FULL, a signed tree head per commit; then the same on a local
// PostgreSQL with fsync on, when its binaries are here), inclusion-proof time, and
// verification of 1,000,000 entries (an export file, and the live store after
// a restart). The service runs on the main thread, the load in a worker.
// Targets (issue 7): ≥ 20,000 durable events/s (TesseraCT publishes ~600
// writes/s on 2 vCPUs); verify 1M entries in < 10 s.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import { createWriteStream, createReadStream, rmSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { request } from 'undici'
import {
  attachMtls, createHealth, createMetrics, createMtlsAgent, createSilentLogger, createSvidSource, loadConfig, mtlsServerOptions,
  systemClock, type Svid,
} from '@bulwark/core'
import {
  canonicalJson, createMerkleTree, exportLineFromLeaf, leafHash, signTreeHead, verifyExport, verifyInclusion,
} from '@bulwark/sdk/audit'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 1_000_000)
const BATCH = 250
const CONCURRENCY = 16

type Load = { events: number; seconds: number; p50: number; p99: number; errors: number }

function eventJson(i: number): string {
  // Keys in canonical (sorted) order, as the log stores them. One event in 50 is a 401 (the detectors see
  // them, spread over many addresses); the rest are successful authentications.
  const failed = i % 50 === 0
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
  return `{"action":"gateway.authenticate","actor":{"id":"user-${i % 10_000}","ip":"${ip}","kind":"user"},"component":"gateway","id":"bench-${i.toString(36).padStart(10, '0')}","outcome":"${failed ? 'failure' : 'success'}","reason":"${failed ? 'BW_AUTHN_TOKEN_EXPIRED' : 'ok'}","requestId":"req-${i}","route":"/api/orders","time":"2026-11-23T12:00:00.000Z","type":"${failed ? 'authn.failed' : 'authn.succeeded'}"}`
}

async function runLoad(data: { url: string; svid: Svid; auditId: string }): Promise<Load> {
  const agent = createMtlsAgent(createSvidSource(data.svid), { verifyPeer: (id) => id === data.auditId, connections: CONCURRENCY })
  let n = 0
  const body = () => `{"events":[${Array.from({ length: BATCH }, () => eventJson(n++).replace('"id":"bench-', `"id":"load${process.pid}-`)).join(',')}]}`
  const post = async () => {
    const res = await request(`${data.url}/v1/events`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: body() })
    await res.body.dump()
    return res.statusCode
  }
  const warmUntil = performance.now() + 1000
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (performance.now() < warmUntil) await post() }))
  const latencies: number[] = []
  let errors = 0
  parentPort!.postMessage({ phase: 'start' })
  const start = performance.now()
  const end = start + SECONDS * 1000
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now()
      if ((await post()) !== 200) errors++
      latencies.push(performance.now() - t0)
    }
  }))
  const seconds = (performance.now() - start) / 1000
  latencies.sort((a, b) => a - b)
  await agent.close()
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN
  return { events: (latencies.length - errors) * BATCH, seconds, p50: pick(0.5), p99: pick(0.99), errors }
}

const time = async <T>(fn: () => Promise<T> | T): Promise<[T, number]> => {
  const t0 = performance.now()
  const value = await fn()
  return [value, (performance.now() - t0) / 1000]
}

async function main(): Promise<void> {
  const { createTestCa, tempDir } = await import('@bulwark/testkit')
  const { createAuditService } = await import('../../packages/audit/src/service.ts')
  const { AuditConfigSchema } = await import('../../packages/audit/src/config.ts')
  const { openAuditStore } = await import('../../packages/audit/src/store.ts')
  const { loadOrCreateSigningKey } = await import('../../packages/audit/src/signing-key.ts')
  using dir = tempDir('bulwark-bench-audit-')
  const ca = await createTestCa()
  const source = await ca.source('audit')
  const config = loadConfig(AuditConfigSchema, { value: {} })
  const deps = (dataDir: string) => ({
    log: createSilentLogger(), metrics: createMetrics('audit'), health: createHealth(), clock: systemClock,
    trustDomain: ca.trustDomain, dataDir, https: mtlsServerOptions(source),
  })
  const rows: Array<Record<string, string>> = []
  const row = (benchmark: string, figure: string, target: string, ratio: string, verdict: string) => rows.push({ benchmark, figure, target, 'vs baseline': ratio, verdict })

  /** Durable appends over mTLS from a worker, against `service`: the rate and this thread's CPU per event. */
  async function appendLoad(service: Awaited<ReturnType<typeof createAuditService>>): Promise<{ load: Load; rate: number; perCore: number; cpuUs: number; url: string }> {
    attachMtls(service.app.server as never, source)
    await service.app.listen({ host: '127.0.0.1', port: 0 })
    const url = `https://127.0.0.1:${(service.app.server.address() as { port: number }).port}`
    const worker = new Worker(new URL(import.meta.url), { workerData: { url, svid: await ca.issue('gateway'), auditId: source.current().spiffeId } })
    let cpuAtStart = process.threadCpuUsage()
    const load = await new Promise<Load>((resolve, reject) => {
      worker.on('message', (m: Load | { phase: 'start' }) => { if ('phase' in m) cpuAtStart = process.threadCpuUsage(); else resolve(m) })
      worker.once('error', reject)
    })
    const cpu = process.threadCpuUsage(cpuAtStart)
    const cpuSeconds = (cpu.user + cpu.system) / 1e6
    return { load, rate: load.events / load.seconds, perCore: load.events / cpuSeconds, cpuUs: cpuSeconds * 1e6 / load.events, url }
  }

  // 1. Durable appends over mTLS.
  const live = await createAuditService(config, deps(join(dir.path, 'live')))
  const { load, rate, perCore, cpuUs, url } = await appendLoad(live)
  row(`durable appends over mTLS (${CONCURRENCY}×${BATCH}-event batches)`, `${Math.round(rate)} events/s (p50 ${load.p50.toFixed(1)} ms, p99 ${load.p99.toFixed(1)} ms per batch, ${load.errors} errors)`, '≥ 20,000/s', `${(rate / 600).toFixed(0)}× TesseraCT 600/s`, rate >= 20_000 ? 'PASS' : 'MISS')
  row('service CPU per durable event (its thread only; fsync waits excluded)', `${cpuUs.toFixed(1)} µs → ${Math.round(perCore)} events per CPU-second`, '≥ 20,000/s', `${(perCore / 600).toFixed(0)}× TesseraCT 600/s`, perCore >= 20_000 ? 'PASS (CPU)' : 'MISS')
  const heads = await live.heads.count()
  row('signed tree heads during the load', `${heads} (one per group commit: ~${Math.round(live.log.size / Math.max(1, heads))} events each)`, '', '', '-')

  // 2. Inclusion proofs: over HTTP on the live log, and on a 1M-leaf tree in memory.
  const operator = createMtlsAgent(await ca.source(`spiffe://${ca.trustDomain}/operator/admin`), { verifyPeer: (id) => id === source.current().spiffeId })
  const size = live.log.size
  const lat: number[] = []
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now()
    const res = await request(`${url}/v1/proofs/inclusion?index=${(i * 7919) % size}`, { dispatcher: operator })
    const proof = await res.body.json() as { leafHash: string; proof: string[]; treeHead: { rootHash: string }; treeSize: number; index: number }
    if (!verifyInclusion(Buffer.from(proof.leafHash, 'hex'), proof.index, proof.treeSize, proof.proof.map((h) => Buffer.from(h, 'hex')), Buffer.from(proof.treeHead.rootHash, 'hex'))) throw new Error('bad proof')
    lat.push(performance.now() - t0)
  }
  lat.sort((a, b) => a - b)
  row(`inclusion proof over mTLS (tree of ${size}), fetched + verified`, `p50 ${lat[100]!.toFixed(2)} ms, p99 ${lat[197]!.toFixed(2)} ms`, '', '', '-')
  await operator.close()
  await live.app.close()
  await live.close()

  // 1b. The same load on PostgreSQL (a local server with fsync and synchronous commit on; one multi-row insert per group commit, on the writer's lock connection).
  const { postgresSkipReason, startPostgres } = await import('@bulwark/testkit')
  const pgSkip = postgresSkipReason()
  if (pgSkip) {
    row('durable appends over mTLS on PostgreSQL', `skipped: ${pgSkip}`, '≥ 20,000/s', '', '-')
  } else {
    await using pg = await startPostgres({ durable: true })
    const onPg = await createAuditService(config, { ...deps(join(dir.path, 'pg')), storage: { postgres: { url: await pg.createDatabase('bench') } } })
    const r = await appendLoad(onPg)
    row(`durable appends over mTLS on PostgreSQL (${CONCURRENCY}×${BATCH}-event batches)`, `${Math.round(r.rate)} events/s (p50 ${r.load.p50.toFixed(1)} ms, p99 ${r.load.p99.toFixed(1)} ms per batch, ${r.load.errors} errors)`, '≥ 20,000/s', `${(r.rate / rate).toFixed(2)}× SQLite`, r.rate >= 20_000 ? 'PASS' : 'MISS')
    row('service CPU per durable event on PostgreSQL (its thread only)', `${r.cpuUs.toFixed(1)} µs → ${Math.round(r.perCore)} events per CPU-second`, '≥ 20,000/s', '', r.perCore >= 20_000 ? 'PASS (CPU)' : 'MISS')
    await onPg.app.close()
    await onPg.close()
  }

  // 3. Verify 1M entries: an export file (the CLI's path), then the store after a restart.
  const key = loadOrCreateSigningKey(join(dir.path, 'big'))
  const file = join(dir.path, 'export.jsonl')
  const db = await openAuditStore({ sqlitePath: join(dir.path, 'big', 'log.db') })
  // Bulk load (setup, not measured): 250 rows per statement.
  const ROWS = 250
  const insertMany = `INSERT INTO entries (seq, event_id, type, data, leaf_hash) VALUES ${Array.from({ length: ROWS }, () => '(?, ?, ?, ?, ?)').join(', ')}`
  const insertOne = 'INSERT INTO entries (seq, event_id, type, data, leaf_hash) VALUES (?, ?, ?, ?, ?)'
  const big = createMerkleTree()
  const out = createWriteStream(file)
  const received = '2026-11-23T12:00:00.001Z'
  const check = `{"event":${eventJson(0)},"index":0,"received":"${received}"}`
  if (canonicalJson(JSON.parse(check)) !== check) throw new Error('bench entries are not canonical')
  const [, genS] = await time(async () => {
    for (let start = 0; start < ENTRIES; start += 50_000) {
      let chunk = ''
      await db.transaction(async (tx) => {
        let params: Array<string | number | Buffer> = []
        for (let i = start; i < Math.min(ENTRIES, start + 50_000); i++) {
          const data = `{"event":${eventJson(i)},"index":${i},"received":"${received}"}`
          const hash = leafHash(data)
          big.append(hash)
          params.push(i, `bench-${i.toString(36).padStart(10, '0')}`, 'authn.succeeded', data, hash)
          if (params.length === ROWS * 5) { await tx.run(insertMany, params); params = [] }
          chunk += `${exportLineFromLeaf(data, hash)}\n`
        }
        for (let p = 0; p < params.length; p += 5) await tx.run(insertOne, params.slice(p, p + 5))
      })
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
    }
    const head = { ...signTreeHead(key.privateKey, { treeSize: ENTRIES, rootHash: big.root(), timestamp: Date.now() }), publicKey: key.publicKeyPem }
    await db.run('INSERT INTO tree_heads (tree_size, root_hash, timestamp, signature, key_id) VALUES (?, ?, ?, ?, ?)', [head.treeSize, head.rootHash, head.timestamp, head.signature, head.keyId])
    out.end(`${canonicalJson({ treeHead: head })}\n`)
    await new Promise<void>((resolve) => out.once('finish', () => resolve()))
  })
  await db.close()
  const root = big.root()
  const [, proofS] = await time(() => {
    for (let i = 0; i < 2000; i++) {
      const index = (i * 104_729) % ENTRIES
      if (!verifyInclusion(big.leaf(index), index, ENTRIES, big.inclusionProof(index), root)) throw new Error('bad proof')
    }
  })
  row(`inclusion proof, ${ENTRIES.toLocaleString('en')} leaves in memory (make + verify)`, `${(proofS * 500).toFixed(1)} µs`, '', '', '-')
  const [result, verifyS] = await time(() => verifyExport(createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity }), { trustedPublicKey: key.publicKeyPem }))
  if (!result.ok) throw new Error(`export did not verify: ${result.problem}`)
  row(`verify an export of ${ENTRIES.toLocaleString('en')} entries (read, hash, root, signature)`, `${verifyS.toFixed(2)} s (${Math.round(ENTRIES / verifyS)} entries/s)`, '< 10 s', '', verifyS < 10 ? 'PASS' : 'MISS')
  rmSync(file)

  const [service, bootS] = await time(() => createAuditService(config, deps(join(dir.path, 'big'))))
  if (!service.log.bootIntegrity.ok) throw new Error('store did not verify at boot')
  row(`restart on ${ENTRIES.toLocaleString('en')} entries (rebuild tree + check signed heads)`, `${bootS.toFixed(2)} s`, '', '', '-')
  const [report, liveS] = await time(() => service.verify())
  if (!report.ok) throw new Error(`store did not verify: ${report.problem}`)
  row(`verify the live store, ${ENTRIES.toLocaleString('en')} entries (GET /v1/verify)`, `${liveS.toFixed(2)} s`, '< 10 s', '', liveS < 10 ? 'PASS' : 'MISS')
  await service.close()

  console.log(`audit benchmark (mTLS on loopback, SQLite synchronous=FULL, group commit; setup of the ${ENTRIES.toLocaleString('en')}-entry store and export took ${genS.toFixed(1)} s)`)
  console.table(rows)
  console.log(`load: ${load.events} events in ${load.seconds.toFixed(1)} s; machine: ${(await import('node:os')).availableParallelism()} CPUs, load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`)
}

if (isMainThread) await main()
else parentPort!.postMessage(await runLoad(workerData as { url: string; svid: Svid; auditId: string }))
