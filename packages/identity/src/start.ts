// The component's start step, separate from main.ts so tests can run it with
// a hand-made runtime: validate our config section, open the store (the SQLite
// file under the home, or PostgreSQL when the bootstrap says so), seed the demo, hand the Fastify app back to the runtime.
import { readFileSync, statSync } from 'node:fs'
import { loadConfig } from '@bulwark/core'
import type { ComponentRuntime, StartResult } from '@bulwark/sdk/runtime'
import { IdentityConfigSchema, type IdentityConfig } from './config.ts'
import { createIdentity } from './identity.ts'
import { seedDemo } from './seed.ts'
import { ensureConsoleClient } from './console-client.ts'

/** The platform master key; refused (fail closed) when anyone but the owner may read or write the file. */
export function readMasterKey(path: string): Buffer {
  const mode = statSync(path).mode & 0o777
  if ((mode & 0o077) !== 0) throw new Error(`master key file ${path} has mode ${mode.toString(8)}; it must be 600`)
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')
  if (key.length < 32) throw new Error('master key is shorter than 32 bytes')
  return key
}

/** The platform frame (`port`, `enabled`) shares the section; it is not ours to validate. */
function ownSection(section: Record<string, unknown>): Record<string, unknown> {
  const { port: _port, enabled: _enabled, ...rest } = section
  return rest
}

/** `exchange.gateway` widened by the services gateway routes lead to (see `routedServices`). */
export function withRoutedServices(config: IdentityConfig): IdentityConfig {
  if (config.routedServices.length === 0) return config
  const gateway = [...new Set([...(config.exchange.gateway ?? []), ...config.routedServices])]
  return { ...config, exchange: { ...config.exchange, gateway } }
}

export async function startIdentity(rt: ComponentRuntime): Promise<StartResult> {
  const config = withRoutedServices(loadConfig(IdentityConfigSchema, { source: 'components.identity', value: ownSection(rt.config) }))
  const { host, port } = rt.bootstrap.listen
  const identity = await createIdentity(config, {
    log: rt.log, audit: rt.audit, svid: rt.svid, clock: rt.clock, metrics: rt.metrics, health: rt.health,
    issuer: rt.bootstrap.publicUrl, trustDomain: rt.bootstrap.trustDomain,
    database: rt.paths.database('identity'), storage: rt.bootstrap.storage, masterKey: readMasterKey(rt.paths.masterKey),
    internalUrl: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, https: rt.httpsOptions(),
  })
  // Only where a console is part of the platform: no client is registered for a component that is not there.
  if (rt.bootstrap.peers.console && ensureConsoleClient(identity.context, rt.bootstrap.publicUrl, rt.bootstrap.trustDomain)) {
    rt.log.info('console client `bulwark-console` registered')
  }
  if (rt.demo) {
    const seeded = await seedDemo(identity.context, rt.paths.demoCredentials)
    if (seeded) rt.log.info({ path: rt.paths.demoCredentials }, 'demo credentials written')
  }
  return { app: identity.app, close: identity.close }
}
