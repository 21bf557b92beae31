// Process entry: `bulwark up` forks this file; the runtime bootstraps the
// SVID, listens with mTLS and handles shutdown.
import { readFileSync } from 'node:fs'
import { loadConfig } from '@bulwark/core'
import { runComponent } from '@bulwark/sdk/runtime'
import { IdentityConfigSchema } from './config.ts'
import { createIdentity } from './identity.ts'
import { seedDemo } from './seed.ts'

function readMasterKey(path: string): Buffer {
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')
  if (key.length < 32) throw new Error('master key is shorter than 32 bytes')
  return key
}

await runComponent({
  name: 'identity',
  async start(rt) {
    const config = loadConfig(IdentityConfigSchema, { source: 'components.identity', value: stripFrame(rt.config) })
    const { host, port } = rt.bootstrap.listen
    const identity = createIdentity(config, {
      log: rt.log, audit: rt.audit, svid: rt.svid, clock: rt.clock, metrics: rt.metrics, health: rt.health,
      issuer: rt.bootstrap.publicUrl, trustDomain: rt.bootstrap.trustDomain,
      database: rt.paths.database('identity'), masterKey: readMasterKey(rt.paths.masterKey),
      internalUrl: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, https: rt.httpsOptions(),
    })
    if (rt.demo) {
      const seeded = await seedDemo(identity.context, rt.paths.demoCredentials)
      if (seeded) rt.log.info({ path: rt.paths.demoCredentials }, 'demo credentials written')
    }
    return { app: identity.app, close: identity.close }
  },
})

/** The platform frame (`port`, `enabled`) lives in the same section; it is not ours to validate. */
function stripFrame(section: Record<string, unknown>): Record<string, unknown> {
  const { port: _port, enabled: _enabled, ...rest } = section
  return rest
}
