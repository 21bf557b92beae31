// createAuditService: the tamper-evident log (SQLite + in-memory RFC 6962
// tree + Ed25519 tree heads), ingestion, detectors, alerts and blocks, behind
// one Fastify app that the runtime (or a test) serves over mTLS.
import { join } from 'node:path'
import type { ServerOptions } from 'node:https'
import type { FastifyInstance } from 'fastify'
import { frontierHeights } from '@bulwark/sdk/audit'
import { createServiceServer, serviceSpiffeId, type AuditSink, type Clock, type Health, type Logger, type Metrics } from '@bulwark/core'
import type { AuditConfig } from './config.ts'
import { openAuditStore } from './store.ts'
import { createAuditLog, type AuditLog } from './log.ts'
import { loadOrCreateSigningKey, type SigningKey } from './signing-key.ts'
import { createTreeHeads, type TreeHeads } from './tree-heads.ts'
import { checkCheckpoint, checkTreeHeads, verifyStore, type VerifyReport } from './verify-store.ts'
import { ARCHIVE_DIR, createArchiver, loadCheckpoint, type Archiver } from './archive.ts'
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
  /** The component's own directory: the SQLite file and the signing key live here. */
  dataDir: string
  /** mTLS server options (runtime: rt.httpsOptions(); tests: mtlsServerOptions(svid)). */
  https: ServerOptions
  /** Locks an account at identity (detector response); absent means lock responses are skipped. */
  lockAccount?: LockAccount
}

export type AuditService = {
  app: FastifyInstance
  log: AuditLog
  heads: TreeHeads
  archiver: Archiver
  alerts: AlertCenter
  blocks: BlockList
  key: SigningKey
  /** The service's own audit sink (records straight into the log). */
  audit: AuditSink
  verify(): Promise<VerifyReport>
  close(): Promise<void>
}

export function createAuditService(config: AuditConfig, deps: AuditServiceDeps): AuditService {
  const db = openAuditStore(join(deps.dataDir, 'log.db'))
  const key = loadOrCreateSigningKey(deps.dataDir)
  const meter = createAuditMetrics(deps.metrics, deps.clock)
  const ref: { heads?: TreeHeads } = {}
  // After an archive cut the tree starts at the latest checkpoint (its frontier); a damaged one fails the boot check.
  const checkpoint = loadCheckpoint(db, key.publicKeyPem)
  const cut = checkCheckpoint(checkpoint, key.publicKeyPem)
  const start = checkpoint && { size: checkpoint.treeHead.treeSize, frontier: cut.ok ? checkpoint.frontier.map((h) => Buffer.from(h, 'hex')) : frontierHeights(checkpoint.treeHead.treeSize).map(() => Buffer.alloc(32)) }
  const log = createAuditLog(db, {
    clock: deps.clock, log: deps.log, onCommit: (n) => meter.committed(n), seal: (size, root) => { ref.heads!.record(size, root) },
    ...(start ? { start } : {}),
  })
  if (!cut.ok) log.setBootIntegrity(cut)
  const heads = createTreeHeads(db, key, {
    clock: deps.clock, log: deps.log, size: () => log.size, root: (size) => log.tree.root(size), canSign: () => log.bootIntegrity.ok,
  })
  ref.heads = heads
  const signed = cut.ok ? checkTreeHeads(log, heads, key.publicKeyPem) : cut
  const rows = log.bootIntegrity
  // Both checks can fail. A row-level hit inside the range a signed head
  // narrows the damage to is the more exact answer; otherwise the earlier wins.
  if (!signed.ok) {
    const row = rows.ok ? undefined : rows.firstBadIndex
    const inRange = row !== undefined && signed.upTo !== undefined && row >= (signed.firstBadIndex ?? 0) && row < signed.upTo
    if (!inRange && (row === undefined || (signed.firstBadIndex ?? Infinity) < row)) log.setBootIntegrity(signed)
  }
  meter.attach(log, heads)
  const audit = createLocalAuditSink(log, { clock: deps.clock, log: deps.log })
  const blocks = createBlockList(db, deps.clock)
  const alerts = createAlertCenter(config, { db, clock: deps.clock, log: deps.log, metrics: deps.metrics, audit, blocks, lockAccount: deps.lockAccount })
  const engine = createDetectionEngine(config.detectors, deps.clock)
  log.onAppend((entries) => {
    alerts.raiseAll(engine.observe(entries.map((e) => e.event))).catch((error: unknown) => deps.log.error({ err: error }, 'raising alerts failed'))
  })

  let reportedProblem: string | undefined
  function tamperAlert(problem: string, firstBadIndex?: number): void {
    if (problem === reportedProblem) return
    reportedProblem = problem
    alerts.raise({
      detector: 'log_tamper', severity: 'high', key: 'audit-log', summary: `audit store verification failed: ${problem}`,
      details: { firstBadIndex: firstBadIndex ?? null },
    }).catch((error: unknown) => deps.log.error({ err: error }, 'raising an alert failed'))
  }

  const boot = log.bootIntegrity
  if (!boot.ok) {
    deps.log.error({ firstBadIndex: boot.firstBadIndex, problem: boot.problem }, 'audit store failed verification at boot; ingestion stopped')
    tamperAlert(boot.problem, boot.firstBadIndex)
  } else if (heads.latest()?.treeSize !== log.size) {
    heads.signNow() // cover entries committed after the last head (e.g. before a crash)
  }
  heads.start(config.treeHeadIntervalSeconds, log)
  const archiver = createArchiver(config.retention, {
    db, log, heads, key, clock: deps.clock, logger: deps.log, dir: join(deps.dataDir, ARCHIVE_DIR),
    selfActor: { kind: 'service', spiffeId: serviceSpiffeId(deps.trustDomain, 'audit') }, ...(checkpoint ? { initial: checkpoint } : {}),
  })
  archiver.start()

  async function verify(): Promise<VerifyReport> {
    const report = await verifyStore(db, log, heads, key.publicKeyPem, archiver.latest())
    if (!report.ok) tamperAlert(report.problem ?? 'failed', report.firstBadIndex)
    return report
  }

  const app = createServiceServer({ name: 'audit', log: deps.log, metrics: deps.metrics, health: deps.health, https: deps.https, bodyLimit: config.bodyLimitBytes })
  deps.health.addCheck('store', () => db.raw.isOpen, { critical: true })
  const access = createAccess(deps.trustDomain)
  registerIngestRoutes(app, { access, log, audit, maxBatch: config.maxBatch })
  registerLogRoutes(app, { access, log, heads, verify })
  registerExportRoute(app, { access, log, heads, audit, checkpoint: () => archiver.latest() })
  registerAlertRoutes(app, { access, alerts, blocks })
  registerArchiveRoutes(app, { access, archiver })

  return {
    app, log, heads, archiver, alerts, blocks, key, audit, verify,
    async close() {
      heads.stop()
      await archiver.stop()
      blocks.close()
      await audit.flush()
      if (log.bootIntegrity.ok && heads.latest()?.treeSize !== log.size) heads.signNow()
      db.close()
    },
  }
}
