// Runs a CA on its own (tests, benchmarks, and anywhere without the platform
// runtime): issues the CA's serving SVID, listens, and renews that SVID at
// half-life from the intermediate.
import { createSvidSource, type MutableSvidSource } from '@bulwark/core'
import type { FastifyInstance } from 'fastify'
import type { CaConfig } from './config.ts'
import { createCa, type Ca, type CaDeps } from './server.ts'

export type RunningCa = {
  ca: Ca
  app: FastifyInstance
  source: MutableSvidSource
  url: string
  close(): Promise<void>
}

export async function startCa(config: CaConfig, deps: CaDeps, listen: { host?: string; port?: number } = {}): Promise<RunningCa> {
  const ca = await createCa(config, deps)
  const source = createSvidSource(await ca.issueServingSvid())
  const app = ca.createApp(source)
  let timer: NodeJS.Timeout | undefined
  let closed = false
  const schedule = () => {
    const delay = Math.max(100, (source.current().notAfter - Date.now()) / 2)
    timer = setTimeout(() => {
      ca.issueServingSvid().then((svid) => { if (!closed) source.update(svid) }, (error: unknown) => {
        deps.log.error({ err: error }, 'ca: serving svid renewal failed')
      }).finally(() => { if (!closed) schedule() })
    }, delay)
    timer.unref()
  }
  schedule()
  const host = listen.host ?? '127.0.0.1'
  await app.listen({ host, port: listen.port ?? 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    ca, app, source,
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    async close() {
      closed = true
      clearTimeout(timer)
      await app.close()
      await ca.close()
    },
  }
}
