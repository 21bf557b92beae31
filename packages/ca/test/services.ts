// Two real services for the CA tests: each joins with a token, rotates at
// half-life and watches the bundle, exactly as the runtime wires them.
import type { TLSSocket } from 'node:tls'
import { X509Certificate } from 'node:crypto'
import {
  attachMtls, createMtlsAgent, createRevocationSet, createServiceServer, createSilentLogger, createSvidSource,
  expectSpiffeId, mtlsServerOptions, serviceSpiffeId, type MutableSvidSource,
} from '@bulwark/core'
import { createConnectionSweeper, obtainSvid, startBundleWatcher, startSvidRotation, type BundleResponse } from '@bulwark/sdk/svid'
import type { Harness } from './helpers.ts'
import { TD } from './helpers.ts'

export type TestService = {
  name: string
  source: MutableSvidSource
  revocation: ReturnType<typeof createRevocationSet>
  url: string
  rotations: number
  bundles: BundleResponse[]
  /** Resolves once a bundle matching `predicate` has been applied. */
  bundleWhere(predicate: (b: BundleResponse) => boolean): Promise<BundleResponse>
  agentTo(other: TestService, options?: { keepAliveTimeout?: number }): ReturnType<typeof createMtlsAgent>
  close(): Promise<void>
}

export async function startService(h: Harness, name: string): Promise<TestService> {
  const log = createSilentLogger()
  const spiffeId = serviceSpiffeId(TD, name)
  const source = createSvidSource(await obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: await h.joinToken(spiffeId), spiffeId }))
  const revocation = createRevocationSet()
  const bundles: BundleResponse[] = []
  const waiting = new Set<{ predicate: (b: BundleResponse) => boolean; resolve: (b: BundleResponse) => void }>()
  let sweep = () => 0
  const rotation = startSvidRotation({ caUrl: h.url, source, log, retryBaseMs: 100 })
  const watcher = startBundleWatcher({
    caUrl: h.url, source, revocation, log, waitSeconds: 20, retryBaseMs: 100,
    onBundle: (bundle) => {
      sweep()
      bundles.push(bundle)
      for (const w of [...waiting]) if (w.predicate(bundle)) { waiting.delete(w); w.resolve(bundle) }
    },
  })
  const app = createServiceServer({ name, log, https: mtlsServerOptions(source) })
  app.get('/hello', async (request) => ({
    from: request.peer?.spiffeId,
    peerSerial: request.peer?.serial,
    servedWith: new X509Certificate((request.raw.socket as TLSSocket).getX509Certificate?.()?.raw ?? Buffer.alloc(0)).serialNumber,
  }))
  const detach = attachMtls(app.server as never, source, { revocation })
  const sweeper = createConnectionSweeper(app.server as never, revocation)
  sweep = sweeper.sweep
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const agents: Array<ReturnType<typeof createMtlsAgent>> = []
  const service: TestService = {
    name, source, revocation, url: `https://127.0.0.1:${port}`, rotations: 0, bundles,
    bundleWhere(predicate) {
      const found = bundles.find(predicate)
      if (found) return Promise.resolve(found)
      return new Promise((resolve) => waiting.add({ predicate, resolve }))
    },
    agentTo(other, options = {}) {
      const agent = createMtlsAgent(source, { verifyPeer: expectSpiffeId(other.source.current().spiffeId), revocation, ...options })
      agents.push(agent)
      return agent
    },
    async close() {
      rotation.stop()
      await watcher.stop()
      detach()
      sweeper.stop()
      await Promise.all(agents.map((a) => (a.closed || a.destroyed ? undefined : a.close().catch(() => {}))))
      await app.close()
    },
  }
  source.onRotate(() => { service.rotations += 1 })
  await watcher.ready
  return service
}
