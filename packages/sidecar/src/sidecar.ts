// createSidecar: a secure service (the sdk's createSecureService, unchanged)
// whose routes forward to an app on 127.0.0.1:appPort, plus the loopback
// egress for the app's own calls. The runtime around it (runComponent) owns
// the SVID, its rotation, the mTLS listener and the audit emitter, exactly as
// for every other component.
import { Agent, ConfigError, type Authorizer } from '@bulwark/core'
import type { ComponentRuntime } from '@bulwark/sdk/runtime'
import { createSecureService, createServiceClient, type SecureService, type TokenExchange, type TokenVerifier } from '@bulwark/sdk/service'
import type { SidecarSettings } from './config.ts'
import { startEgress, type Egress } from './egress.ts'
import { isListening } from './app-probe.ts'
import { registerInbound } from './inbound.ts'
import { createSeenTokens } from './seen-tokens.ts'

export type SidecarOptions = {
  /** Default: the policy service's set (as every secure service). */
  authorizer?: Authorizer
  /** Default: identity's JWKS and revocation feed (as every secure service). */
  verifier?: TokenVerifier
  exchange?: TokenExchange
}

export type Sidecar = {
  app: SecureService
  /** The bound egress port, when egress is on. */
  egressPort: number | undefined
  close(): Promise<void>
}

function checkPorts(rt: ComponentRuntime, settings: SidecarSettings): void {
  const issues: Array<{ path: string; message: string }> = []
  const own = rt.bootstrap.listen.port
  if (settings.appPort === own) issues.push({ path: '/sidecar/appPort', message: `\`${settings.appPort}\` is the component's own port` })
  if (settings.egressPort !== undefined && (settings.egressPort === own || settings.egressPort === settings.appPort)) {
    issues.push({ path: '/sidecar/egressPort', message: `\`${settings.egressPort}\` is already the component's or the app's port` })
  }
  if (issues.length > 0) throw new ConfigError(rt.bootstrap.component, issues)
}

/**
 * Builds the sidecar of the service `rt.bootstrap.component` (not listening:
 * return `app` from `start` and the runtime serves it over mTLS).
 *
 * @example
 * void runComponent({ name: 'sidecar', async start(rt) {
 *   const sidecar = await createSidecar(rt, loadSidecarSettings(rt.config, rt.bootstrap.component))
 *   return { app: sidecar.app, close: sidecar.close }
 * } })
 */
export async function createSidecar(rt: ComponentRuntime, settings: SidecarSettings, options: SidecarOptions = {}): Promise<Sidecar> {
  checkPorts(rt, settings)
  const service = rt.bootstrap.component
  const client = createServiceClient(rt, { exchange: options.exchange })
  const app = await createSecureService(rt, {
    authorizer: options.authorizer, verifier: options.verifier, exchange: options.exchange, bodyLimit: settings.maxBodyBytes,
  })
  // Plain HTTP on loopback to the app; kept-alive connections, one request each at a time.
  const appAgent = new Agent({ keepAliveTimeout: 4000, keepAliveMaxTimeout: 60_000, connections: 128 })
  const seen = settings.egressPort !== undefined ? createSeenTokens({ clock: rt.clock }) : undefined
  registerInbound(app, { service, settings, app: appAgent, seen })
  rt.health.addCheck('app', () => isListening(settings.appPort))
  let egress: Egress | undefined
  if (seen) {
    egress = await startEgress({ rt, settings, seen, exchange: () => client.exchange })
    rt.log.info({ egress: `http://127.0.0.1:${egress.port}` }, 'egress listening')
  }
  rt.log.info({ app: `http://127.0.0.1:${settings.appPort}`, routes: settings.routes?.length ?? 'all' }, 'forwarding to the app')
  return {
    app, egressPort: egress?.port,
    async close() {
      await egress?.close()
      await appAgent.close()
    },
  }
}
