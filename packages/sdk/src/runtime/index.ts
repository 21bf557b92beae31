// runComponent: everything a Bulwark process does before and after its own
// work — bootstrap, SVID from the CA (key generated here, never sent), rotation
// at half-life, revocation/quarantine feed, mTLS listener, audit emitter,
// health, metrics and a clean shutdown on SIGTERM/SIGINT.
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import type { ServerOptions } from 'node:https'
import type { FastifyInstance } from 'fastify'
import type { Agent } from 'undici'
import {
  attachMtls, createHealth, createLogger, createMetrics, createMtlsAgent, createRevocationSet, createSvidSource,
  expectSpiffeId, homePaths, mtlsServerOptions, systemClock,
  type AuditSink, type BootstrapMessage, type Clock, type Health, type HomePaths, type Logger, type Metrics,
  type MutableSvidSource, type RevocationView, type Svid, type SvidSource,
} from '@bulwark/core'
import { createConnectionSweeper, obtainSvid, startBundleWatcher, startSvidRotation } from '../svid/index.ts'
import { createAuditEmitter } from '../audit/index.ts'
import { receiveBootstrap, tellSupervisor } from './bootstrap-source.ts'
export { provideBootstrap } from './bootstrap-source.ts'
import { startSelfRotation } from './self-rotation.ts'
import { startHealthListener } from './health-listener.ts'
import { installReplyBarrier } from './reply-barrier.ts'

/** A peer: its REST URL, SPIFFE ID, an mTLS dispatcher that accepts only that ID, and its gRPC URL when it serves gRPC. */
export type PeerHandle = { url: string; spiffeId: string; dispatcher: Agent; grpcUrl?: string }

export type ComponentRuntime = {
  bootstrap: BootstrapMessage
  /** This component's own config section (validate it with the component's schema). */
  config: Record<string, unknown>
  demo: boolean
  log: Logger
  metrics: Metrics
  health: Health
  clock: Clock
  svid: SvidSource
  revocation: RevocationView & { replace(serials: Iterable<string>, blocked: Iterable<string>): void }
  audit: AuditSink
  paths: HomePaths
  /** An mTLS client for peer `name` that accepts only that peer's SPIFFE ID. */
  peer(name: string): PeerHandle
  /** mTLS server options from the current SVID (TLS 1.3, client certificate required). */
  httpsOptions(): ServerOptions
}

export type StartResult = {
  app: FastifyInstance
  close?: () => Promise<void>
  /** 'mtls' (default): the runtime wires rotation + revocation; 'custom': the component did. */
  tls?: 'mtls' | 'custom'
}

export type RunComponentOptions = {
  name: string
  start(rt: ComponentRuntime): Promise<StartResult>
  /** The CA only: it signs its own SVID instead of joining. Called at start and at half-life. */
  selfSigned?: { issue(bootstrap: BootstrapMessage): Promise<Svid> }
  /** Extra SANs to ask for (the gateway's public names). */
  servingNames?(bootstrap: BootstrapMessage): { dnsNames?: string[]; ipAddresses?: string[] }
}

function describeListenError(error: NodeJS.ErrnoException, host: string, port: number): string {
  if (error.code === 'EADDRINUSE') return `port ${port} on ${host} is already in use: stop the other process or change components.<name>.port in config.json`
  if (error.code === 'EACCES') return `not allowed to listen on ${host}:${port}`
  return error.message
}

/** Runs a component process to completion. Exits the process on fatal errors and after shutdown. */
export async function runComponent(options: RunComponentOptions): Promise<void> {
  let log: Logger = createLogger({ name: options.name })
  const stoppers: Array<() => unknown> = []
  try {
    const bootstrap = await receiveBootstrap()
    log = createLogger({ name: bootstrap.component })
    const paths = homePaths(bootstrap.home)
    const rootPem = readFileSync(paths.rootCert, 'utf8')
    const metrics = createMetrics(bootstrap.component, { defaultMetrics: true })
    const health = createHealth()
    const revocation = createRevocationSet()
    if (bootstrap.healthListen) {
      const probes = await startHealthListener(health, bootstrap.healthListen)
      stoppers.push(() => void probes.close())
    }

    let source: MutableSvidSource
    // Set once the server exists: cuts kept-alive connections that a new bundle revokes or quarantines.
    let afterBundle: () => void = () => {}
    if (options.selfSigned) {
      const issuer = options.selfSigned
      source = createSvidSource(await issuer.issue(bootstrap))
      stoppers.push(startSelfRotation(source, () => issuer.issue(bootstrap), log).stop)
    } else {
      // Under the supervisor a one-time join token; on Kubernetes the pod's projected token.
      const proof = bootstrap.joinToken ? { joinToken: bootstrap.joinToken }
        : bootstrap.attestation?.kubernetes ? { kubernetesTokenFile: bootstrap.attestation.kubernetes.tokenFile }
          : undefined
      if (!proof) throw new Error('bootstrap carries no join token and no attestation')
      source = createSvidSource(await obtainSvid({
        caUrl: bootstrap.caUrl, rootPem, ...proof, spiffeId: bootstrap.spiffeId,
        ...options.servingNames?.(bootstrap),
      }))
      stoppers.push(startSvidRotation({ caUrl: bootstrap.caUrl, source, log }).stop)
      stoppers.push(startBundleWatcher({ caUrl: bootstrap.caUrl, source, revocation, log, onBundle: () => afterBundle() }).stop)
    }
    metrics.gauge('bulwark_svid_expiry_seconds', 'Seconds until the current SVID expires')
      .set((source.current().notAfter - Date.now()) / 1000)
    source.onRotate((svid) => metrics.gauge('bulwark_svid_expiry_seconds', '').set((svid.notAfter - Date.now()) / 1000))

    const agents = new Map<string, Agent>()
    const peer = (name: string): PeerHandle => {
      const info = bootstrap.peers[name]
      if (!info) throw new TypeError(`unknown peer \`${name}\``)
      let dispatcher = agents.get(name)
      if (!dispatcher) {
        // A peer with replicas: calls spread over all of them and fail over (core's replica-dispatch).
        dispatcher = createMtlsAgent(source, { verifyPeer: expectSpiffeId(info.spiffeId), revocation, ...(info.urls && info.urls.length > 1 ? { replicas: info.urls } : {}) })
        agents.set(name, dispatcher)
      }
      return { url: info.url, spiffeId: info.spiffeId, dispatcher, ...(info.grpcUrl ? { grpcUrl: info.grpcUrl } : {}) }
    }
    const audit = bootstrap.peers.audit
      ? createAuditEmitter({
        url: bootstrap.peers.audit.url, dispatcher: peer('audit').dispatcher,
        // Each replica spools to its own file: two processes appending to one would interleave.
        spoolPath: join(paths.componentDir(bootstrap.component), (bootstrap.replica ?? 1) > 1 ? `audit-spool-${bootstrap.replica}.jsonl` : 'audit-spool.jsonl'),
        component: bootstrap.component, log, metrics,
      })
      : undefined
    const sink: AuditSink = audit ?? { emit: (e) => log.info({ audit: e }, 'audit event (no audit service)'), flush: async () => {} }
    // A component that is losing audit events (spool at its cap) is not ready: fail closed, visibly.
    if (audit) health.addCheck('audit-spool', () => !audit.spoolFull())

    const runtime: ComponentRuntime = {
      bootstrap, config: bootstrap.config, demo: bootstrap.demo, log, metrics, health, clock: systemClock,
      svid: source, revocation, audit: sink, paths, peer, httpsOptions: () => mtlsServerOptions(source),
    }
    const started = await options.start(runtime)
    // An acknowledged operation's audit events are durable before its reply leaves.
    if (audit) installReplyBarrier(started.app, audit)
    if ((started.tls ?? 'mtls') === 'mtls') {
      stoppers.push(attachMtls(started.app.server as never, source, {
        revocation,
        onReject: (reason, socket) => log.warn({ remote: socket.remoteAddress, reason }, 'refused mTLS connection'),
      }))
    }
    const sweeper = createConnectionSweeper(started.app.server as never, revocation)
    const { host, port, reusePort } = bootstrap.listen
    try {
      // reusePort (Node 22.12+, Linux): gateway replicas share the public port; the kernel spreads new connections over the live ones.
      await started.app.listen({ host, port, ...(reusePort ? { reusePort: true } : {}) })
    } catch (error) {
      throw new Error(describeListenError(error as NodeJS.ErrnoException, host, port), { cause: error })
    }
    health.setReady(true)
    const address = started.app.server.address()
    const boundPort = typeof address === 'object' && address ? address.port : port
    const url = `https://${host.includes(':') ? `[${host}]` : host}:${boundPort}`
    log.info({ url, spiffeId: source.current().spiffeId }, 'ready')
    tellSupervisor({ type: 'ready', url })

    let stopping = false
    const shutdown = async (signal: string, exitCode = 0) => {
      if (stopping) return
      stopping = true
      log.info({ signal }, 'shutting down')
      health.setReady(false)
      const force = setTimeout(() => process.exit(1), 15_000)
      force.unref()
      // Drain briefly, then cut what is left (long-polls wait up to 25 s and would hold the exit).
      const cut = setTimeout(() => (started.app.server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.(), 2000)
      cut.unref()
      try {
        await started.app.close()
        await started.close?.()
        await audit?.close()
      } catch (error) {
        log.error({ err: error }, 'error during shutdown')
      }
      for (const stop of stoppers) stop()
      await Promise.allSettled([...agents.values()].map((a) => a.close()))
      process.exit(exitCode)
    }
    afterBundle = () => {
      const selfBlocked = revocation.isBlockedSpiffeId(bootstrap.spiffeId)
      // A quarantined workload serves no one: every inbound connection goes. Its outbound
      // connections are cut by the healthy peers' own sweep, and new handshakes fail both ways.
      if (selfBlocked) (started.app.server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
      else sweeper.sweep()
      // Released after a quarantine, but our certificate was revoked with it: renewal is impossible,
      // so exit and let the supervisor start us again with a fresh join token (on Kubernetes,
      // the kubelet restarts the container, which attests again).
      if (!selfBlocked && !options.selfSigned && revocation.isRevokedSerial(source.current().serial)) {
        log.warn('own certificate is revoked; exiting to rejoin with a new join token')
        void shutdown('certificate-revoked', 3)
      }
    }
    afterBundle()
    process.on('SIGTERM', () => void shutdown('SIGTERM'))
    process.on('SIGINT', () => void shutdown('SIGINT'))
    // The supervisor went away: do not linger as an orphan holding ports.
    process.on('disconnect', () => void shutdown('supervisor-disconnect'))
  } catch (error) {
    const message = (error as Error).message
    log.fatal({ err: error }, `cannot start: ${message}`)
    tellSupervisor({ type: 'fatal', message })
    for (const stop of stoppers) stop()
    setTimeout(() => process.exit(1), 50)
  }
}
