// createAuditService: the tamper-evident log (SQLite or PostgreSQL +
// in-memory RFC 6962 tree + Ed25519 tree heads), ingestion, detectors,
// alerts and blocks, behind one Fastify app that the runtime (or a test)
// serves over mTLS. On PostgreSQL, replicas share the log: the one holding
// the writer lock appends (leader.ts); the others answer ingestion with 503
// + Retry-After (emitters keep their events spooled) and serve reads after
// catching up with what the writer committed.
import { join } from 'node:path'
import type { ServerOptions } from 'node:https'
import type { FastifyInstance } from 'fastify'
import { frontierHeights } from '@bulwark/sdk/audit'
import { createServiceServer, serviceSpiffeId, type AuditSink, type BootstrapMessage, type Clock, type Health, type Logger, type Metrics, type SqlStore } from '@bulwark/core'
import type { AuditConfig } from './config.ts'
import { openAuditStore } from './store.ts'
import { createAuditLog, type AuditLog, type Integrity } from './log.ts'
import { createLeaderElection } from './leader.ts'
import { loadOrCreateSigningKey, type SigningKey } from './signing-key.ts'
import { createTreeHeads, type TreeHeads } from './tree-heads.ts'
import { checkCheckpoint, checkTreeHeads, verifyStore, type VerifyReport } from './verify-store.ts'
import { ARCHIVE_DIR, createArchiver, loadCheckpoint, type Archiver, type CheckpointRecord } from './archive.ts'
import { createLocalAuditSink } from './local-sink.ts'
import { createAuditMetrics } from './metrics.ts'
import { createDetectionEngine } from './detect/engine.ts'
import { createBlockList, type BlockList } from './blocks.ts'
import { createAlertCenter, type AlertCenter } from './alerts.ts'
import type { LockAccount } from './responders.ts'
import { createAccess } from './routes/access.ts'
import { registerIngestRoutes } from './routes/ingest-routes.ts'
import { registerLogRoutes } from './routes/log-routes.ts'
import { registerExportRoute } from './routes/export-route.ts'
import { registerAlertRoutes } from './routes/alert-routes.ts'
import { registerArchiveRoutes } from './routes/archive-routes.ts'

export type AuditServiceDeps = {
  log: Logger
  metrics: Metrics
  health: Health
  clock: Clock
  trustDomain: string
  /** The component's own directory: the SQLite file, the signing key and the archive live here. */
  dataDir: string
  /** The bootstrap's storage: with `postgres.url`, the log is in schema `bulwark_audit` and replicas elect a writer. */
  storage?: BootstrapMessage['storage']
  /** mTLS server options (runtime: rt.httpsOptions(); tests: mtlsServerOptions(svid)). */
  https: ServerOptions
  /** Locks an account at identity (detector response); absent means lock responses are skipped. */
  lockAccount?: LockAccount
}

export type AuditService = {
  app: FastifyInstance
  store: SqlStore
  log: AuditLog
  heads: TreeHeads
  archiver: Archiver
  alerts: AlertCenter
  blocks: BlockList
  key: SigningKey
  /** The service's own audit sink (records straight into the log). */
  audit: AuditSink
  /** True while this instance is the log's writer (always on SQLite). */
  readonly leader: boolean
  /** A follower reads what the writer committed since (no-op at the writer). */
  refresh(): Promise<void>
  verify(): Promise<VerifyReport>
  close(): Promise<void>
}

/** The tree's start at an archive cut (a damaged checkpoint gives zeros: the boot check fails on it). */
function startOf(checkpoint: CheckpointRecord, ok: boolean) {
  return { size: checkpoint.treeHead.treeSize, frontier: ok ? checkpoint.frontier.map((h) => Buffer.from(h, 'hex')) : frontierHeights(checkpoint.treeHead.treeSize).map(() => Buffer.alloc(32)) }
}

export async function createAuditService(config: AuditConfig, deps: AuditServiceDeps): Promise<AuditService> {
  const store = await openAuditStore({ sqlitePath: join(deps.dataDir, 'log.db'), storage: deps.storage })
  try {
    return await startService(config, deps, store)
  } catch (error) {
    await store.close()
    throw error
  }
}

async function startService(config: AuditConfig, deps: AuditServiceDeps, store: SqlStore): Promise<AuditService> {
  const replicated = store.dialect === 'postgres'
  const key = loadOrCreateSigningKey(deps.dataDir)
  const meter = createAuditMetrics(deps.metrics, deps.clock)
  const ref: { heads?: TreeHeads } = {}
  // After an archive cut the tree starts at the latest checkpoint (its frontier); a damaged one fails the boot check.
  const checkpoint = await loadCheckpoint(store, key.publicKeyPem)
  const cut = checkCheckpoint(checkpoint, key.publicKeyPem)
  const log = await createAuditLog(store, {
    clock: deps.clock, log: deps.log, onCommit: (n) => meter.committed(n), seal: async (tx, size, root) => { await ref.heads!.record(tx, size, root) },
    ...(checkpoint ? { start: startOf(checkpoint, cut.ok) } : {}),
  })
  if (!cut.ok) log.setBootIntegrity(cut)
  const heads = await createTreeHeads(store, key, {
    clock: deps.clock, log: deps.log, size: () => log.size, root: (size) => log.tree.root(size), canSign: () => log.bootIntegrity.ok,
    writable: () => log.writable, exclusive: (fn) => log.exclusive(fn),
  })
  ref.heads = heads

  /** The rebuilt tree against every signed head (and the checkpoint); the first problem found stays. */
  async function checkSigned(): Promise<void> {
    const rows = log.bootIntegrity
    if (!rows.ok && rows.firstBadIndex === undefined) return
    const signed: Integrity = cut.ok ? await checkTreeHeads(log, heads, key.publicKeyPem) : cut
    // Both checks can fail. A row-level hit inside the range a signed head
    // narrows the damage to is the more exact answer; otherwise the earlier wins.
    if (!signed.ok) {
      const row = rows.ok ? undefined : rows.firstBadIndex
      const inRange = row !== undefined && signed.upTo !== undefined && row >= (signed.firstBadIndex ?? 0) && row < signed.upTo
      if (!inRange && (row === undefined || (signed.firstBadIndex ?? Infinity) < row)) log.setBootIntegrity(signed)
    }
  }
  await checkSigned()
  meter.attach(log, heads)
  const audit = createLocalAuditSink(log, { clock: deps.clock, log: deps.log })
  const blocks = createBlockList(store, deps.clock)
  const alerts = createAlertCenter(config, {
    store, exclusive: (fn) => log.exclusive(fn), clock: deps.clock, log: deps.log, metrics: deps.metrics, audit, blocks, lockAccount: deps.lockAccount,
  })
  const engine = createDetectionEngine(config.detectors, deps.clock)
  log.onAppend((entries) => {
    alerts.raiseAll(engine.observe(entries.map((e) => e.event))).catch((error: unknown) => deps.log.error({ err: error }, 'raising alerts failed'))
  })

  let reportedProblem: string | undefined
  function tamperAlert(problem: string, firstBadIndex?: number): void {
    if (problem === reportedProblem) return
    // Only the writer stores alerts; a follower's finding is logged, and the writer finds it at its own check.
    if (!log.writable) {
      deps.log.error({ firstBadIndex, problem }, 'audit store failed verification (at a follower replica)')
      return
    }
    reportedProblem = problem
    alerts.raise({
      detector: 'log_tamper', severity: 'high', key: 'audit-log', summary: `audit store verification failed: ${problem}`,
      details: { firstBadIndex: firstBadIndex ?? null },
    }).catch((error: unknown) => deps.log.error({ err: error }, 'raising an alert failed'))
  }

  const archiver = createArchiver(config.retention, {
    db: store, log, heads, key, clock: deps.clock, logger: deps.log, dir: join(deps.dataDir, ARCHIVE_DIR),
    selfActor: { kind: 'service', spiffeId: serviceSpiffeId(deps.trustDomain, 'audit') }, ...(checkpoint ? { initial: checkpoint } : {}),
  })

  /** A follower (or a writer about to take over) reads the archive cut and the entries the writer committed, from one snapshot. */
  async function follow(): Promise<void> {
    await store.transaction(async (tx) => {
      if (tx.dialect === 'postgres') await tx.run('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
      const latest = await loadCheckpoint(tx, key.publicKeyPem)
      if (latest && latest.treeHead.treeSize > log.base) {
        const check = checkCheckpoint(latest, key.publicKeyPem)
        if (!check.ok) log.setBootIntegrity(check)
        else archiver.setLatest(latest)
        await log.follow(tx, check.ok ? startOf(latest, true) : undefined)
      } else {
        await log.follow(tx)
      }
    })
  }

  /** Becoming the writer: the log as the last writer left it, checked against its signed heads, then covered by a head. */
  async function takeOver(writer: Parameters<AuditLog['setWriter']>[0]): Promise<void> {
    if (replicated) await follow()
    await checkSigned()
    await heads.resume()
    log.setWriter(writer)
    const boot = log.bootIntegrity
    if (!boot.ok) {
      deps.log.error({ firstBadIndex: boot.firstBadIndex, problem: boot.problem }, 'audit store failed verification; ingestion stopped')
      tamperAlert(boot.problem, boot.firstBadIndex)
    } else if ((await heads.latest())?.treeSize !== log.size) {
      await heads.signNow() // cover entries committed after the last head (e.g. before a crash)
    }
  }

  const election = replicated
    ? createLeaderElection(store, {
      log: deps.log, retryMs: config.leaderRetryMs,
      onElected: (session) => takeOver(session),
      onDeposed: () => log.setWriter(undefined),
    })
    : undefined
  // A lone replica (or the first) is the writer when this resolves; the others follow.
  if (election) await election.start()
  else await takeOver(store)
  heads.start(config.treeHeadIntervalSeconds, log)
  archiver.start()

  async function refresh(): Promise<void> {
    if (!log.writable) await follow()
  }

  async function verify(): Promise<VerifyReport> {
    await refresh()
    const report = await verifyStore(store, log, heads, key.publicKeyPem, archiver.latest())
    if (!report.ok) tamperAlert(report.problem ?? 'failed', report.firstBadIndex)
    return report
  }

  const app = createServiceServer({ name: 'audit', log: deps.log, metrics: deps.metrics, health: deps.health, https: deps.https, bodyLimit: config.bodyLimitBytes })
  deps.health.addCheck('store', async () => {
    try { return (await store.one('SELECT 1 AS ok')) !== undefined } catch { return false }
  }, { critical: true })
  const access = createAccess(deps.trustDomain)
  registerIngestRoutes(app, { access, log, audit, maxBatch: config.maxBatch })
  registerLogRoutes(app, { access, log, heads, verify, refresh })
  registerExportRoute(app, { access, log, heads, audit, refresh, checkpoint: () => archiver.latest() })
  registerAlertRoutes(app, { access, alerts, blocks })
  registerArchiveRoutes(app, { access, archiver, refresh })

  return {
    app, store, log, heads, archiver, alerts, blocks, key, audit, verify, refresh,
    get leader() { return log.writable },
    async close() {
      heads.stop()
      await archiver.stop()
      blocks.close()
      await audit.flush()
      if (log.writable && log.bootIntegrity.ok && (await heads.latest())?.treeSize !== log.size) {
        await heads.signNow().catch((error: unknown) => deps.log.error({ err: error }, 'signing the last tree head failed'))
      }
      // Everything queued on the log settles before the writer lock goes.
      await log.settled(async () => {})
      await election?.stop()
      log.setWriter(undefined)
      await store.close()
    },
  }
}
