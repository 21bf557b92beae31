// The gateway process, started by `bulwark up` through the sdk runtime. Its
// edge certificate is its own SVID (with the public DNS/IP names), so it
// returns `tls: 'custom'` and swaps the edge context itself on rotation.
import { readFileSync } from 'node:fs'
import { runComponent } from '@bulwark/sdk/runtime'
import { createPolicyClient } from '@bulwark/sdk/policy'
import { SHOP_COMPONENTS } from '@bulwark/core'
import { createGateway } from './server.ts'
import { readRoutesFromConfig, watchRoutes } from './reload.ts'

/** True when a platform component's (or the demo shop's) package is installed here. */
function installed(name: string): boolean {
  const shop = (SHOP_COMPONENTS as readonly string[]).includes(name)
  try {
    import.meta.resolve(shop ? `@bulwark/shop-${name}/main` : `@bulwark/${name}/main`)
    return true
  } catch {
    return false
  }
}

/** Peers that are enabled in config.json and run here: the user's services, installed components (shop only with --demo). */
function enabledPeers(configPath: string, peers: readonly string[], demo: boolean): string[] {
  let sections: Record<string, { enabled?: boolean; command?: unknown }> = {}
  try {
    sections = (JSON.parse(readFileSync(configPath, 'utf8')) as { components?: typeof sections }).components ?? {}
  } catch { /* no config file: every peer counts */ }
  return peers.filter((name) => {
    if (sections[name]?.enabled === false) return false
    if (Array.isArray(sections[name]?.command)) return true
    if ((SHOP_COMPONENTS as readonly string[]).includes(name) && !demo) return false
    return installed(name)
  })
}

runComponent({
  name: 'gateway',
  servingNames(bootstrap) {
    const host = new URL(bootstrap.publicUrl).hostname.replace(/^\[|\]$/g, '')
    const isIp = /^[\d.]+$|:/.test(host)
    return { dnsNames: [...new Set(['localhost', ...(isIp ? [] : [host])])], ipAddresses: [...new Set(['127.0.0.1', '::1', ...(isIp ? [host] : [])])] }
  },
  async start(rt) {
    const peers = Object.keys(rt.bootstrap.peers)
    const policy = peers.includes('policy')
      ? createPolicyClient({ url: rt.peer('policy').url, dispatcher: rt.peer('policy').dispatcher, log: rt.log, metrics: rt.metrics })
      : undefined
    const authorizer = policy ?? { authorize: () => ({ decision: 'deny' as const, reasons: [], errors: ['no policy service'], policyVersion: 'none' }) }
    const section = { ...rt.config }
    const gateway = createGateway(section, {
      log: rt.log, metrics: rt.metrics, audit: rt.audit, clock: rt.clock, svid: rt.svid, authorizer, health: rt.health,
      peer: (name) => rt.peer(name), revocation: rt.revocation, healthPeers: enabledPeers(rt.paths.config, peers, rt.demo), services: peers, publicUrl: rt.bootstrap.publicUrl,
      ...(rt.bootstrap.listen.reusePort ? { reusePort: true } : {}),
    })
    const files = [rt.paths.config, ...(typeof section.routesFile === 'string' ? [section.routesFile] : [])]
    const watcher = watchRoutes({ files, read: () => readRoutesFromConfig(rt.paths.config), apply: (routes) => gateway.reload(routes), log: rt.log, audit: rt.audit })
    return {
      app: gateway.app,
      tls: 'custom',
      async close() {
        watcher.stop()
        await gateway.close()
        await policy?.close()
      },
    }
  },
})
