// Operator routes for the key hierarchy: rotate the KEK, rewrap everything
// still under an older one, rotate every transit key (incident response).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { CoreErrors } from '@bulwark/core'
import type { Access } from '../access.ts'
import type { Keyring } from '../keyring.ts'
import type { KvEngine } from '../kv.ts'
import type { TransitEngine } from '../transit.ts'

export function registerSystemRoutes(app: FastifyInstance, deps: { keyring: Keyring; kv: KvEngine; transit: TransitEngine; access: Access }): void {
  const { access, keyring, kv, transit } = deps
  const guard = (request: FastifyRequest, action: string, id: string) => {
    const principal = access.principalOf(request)
    access.check(request, principal, action, { type: 'VaultSystem', id }, () => CoreErrors.notFound(`no route for \`${request.method} ${request.url.split('?')[0]!.slice(0, 200)}\``))
    return principal
  }

  app.get('/v1/sys/status', async (request) => {
    guard(request, 'system.status', 'status')
    const stale = await kv.staleCount()
    return { kekVersion: keyring.currentVersion(), secretVersionsToRewrap: stale }
  })

  app.post('/v1/sys/rotate-kek', async (request) => {
    const principal = guard(request, 'system.rotate-kek', 'kek')
    const kekVersion = await keyring.rotate()
    access.audit(request, principal, { type: 'kek.rotated', action: 'system.rotate-kek', resource: 'kek', outcome: 'success', details: { kekVersion } })
    return { kekVersion }
  })

  app.post('/v1/sys/rewrap', async (request) => {
    const principal = guard(request, 'system.rewrap', 'kek')
    const secrets = await kv.rewrapAll()
    const keys = await transit.rewrapKeys()
    const failed = secrets.failed + keys.failedKeys.length
    access.audit(request, principal, {
      type: 'kek.rewrapped', action: 'system.rewrap', resource: 'kek', outcome: failed > 0 ? 'failure' : 'success',
      details: { kekVersion: keyring.currentVersion(), rewrapped: secrets.rewrapped, failed: secrets.failed, transitKeyVersions: keys.rewrapped, failedTransitKeys: keys.failedKeys.length },
    })
    return { kekVersion: keyring.currentVersion(), secrets, transitKeyVersions: keys.rewrapped, failedTransitKeys: keys.failedKeys }
  })

  app.post('/v1/sys/rotate-transit-keys', async (request) => {
    const principal = guard(request, 'system.rotate-transit', 'transit')
    const rotated: Array<{ name: string; latestVersion: number }> = []
    for (const name of await transit.names()) rotated.push({ name, latestVersion: (await transit.rotate(name)).latestVersion })
    access.audit(request, principal, { type: 'transit_key.rotated', action: 'system.rotate-transit-keys', resource: 'transit', outcome: 'success', details: { count: rotated.length } })
    return { rotated }
  })
}
