// `bulwark up`: starts the CA, then every other component with a fresh join
// token each, waits until all are ready, restarts a crashed child with
// backoff (and a new join token), and stops everything in reverse order.
import { componentGrpcUrl, componentUrl, gatewayUrl, serviceSpiffeId, type BootstrapMessage, type PlatformConfig } from '@bulwark/core/base'
import type { CliContext } from '../context.ts'
import { startChild, stopChild, type ChildHandle } from './child.ts'
import { codeCacheDir } from './components.ts'
import { launchSpecOf } from './launch-spec.ts'
import { serviceBootstrapConfig } from './service-bootstrap.ts'
import { startServiceChild, startSidecarChild } from './service-child.ts'
import { waitUntilServing } from './readiness.ts'
import { writeRunState, type ComponentState, type RunState } from './state.ts'
import { resolveStorage } from './storage.ts'

export type Supervisor = {
  start(): Promise<void>
  stop(): Promise<void>
  state(): RunState
}

const JOIN_TOKEN_TTL_SECONDS = 300
const MAX_BACKOFF_MS = 30_000

export function createSupervisor(ctx: CliContext, config: PlatformConfig, names: string[], options: { demo: boolean; write: (line: string) => void }): Supervisor {
  const children = new Map<string, ChildHandle>()
  const states = new Map<string, ComponentState>()
  const backoff = new Map<string, number>()
  let stopping = false
  const startedAt = new Date().toISOString()
  // Resolved once, before anything starts: a bad URL or password file stops `up` at once.
  const storage = resolveStorage(config)

  const runState = (): RunState => ({
    supervisorPid: process.pid, startedAt, demo: options.demo, gateway: gatewayUrl(config),
    components: names.map((n) => states.get(n)!),
  })
  const persist = () => writeRunState(ctx.paths.runState, runState())

  for (const name of names) {
    states.set(name, { name, url: componentUrl(config, name), spiffeId: serviceSpiffeId(config.trustDomain, name), pid: null, restarts: 0, state: 'starting' })
  }

  async function joinToken(spiffeId: string): Promise<string> {
    const res = await ctx.callOk('ca', 'POST', '/v1/join-tokens', { spiffeId, ttlSeconds: JOIN_TOKEN_TTL_SECONDS })
    return (res.body as { token: string }).token
  }

  function bootstrapFor(name: string, token: string | undefined): BootstrapMessage {
    const section = config.components[name]!
    const { port, enabled: _enabled, ...rest } = section
    const peers: BootstrapMessage['peers'] = {}
    for (const other of Object.keys(config.components)) {
      if (other === name) continue
      const grpcUrl = componentGrpcUrl(config, other)
      peers[other] = { url: componentUrl(config, other), spiffeId: serviceSpiffeId(config.trustDomain, other), ...(grpcUrl ? { grpcUrl } : {}) }
    }
    return {
      type: 'bootstrap', component: name, home: ctx.home, trustDomain: config.trustDomain,
      spiffeId: serviceSpiffeId(config.trustDomain, name),
      listen: { host: name === 'gateway' ? config.publicHost : config.internalHost, port },
      caUrl: componentUrl(config, 'ca'), joinToken: token, publicUrl: gatewayUrl(config),
      svidTtlSeconds: config.svidTtlSeconds, peers, config: serviceBootstrapConfig(config, name, rest), demo: options.demo,
      ...(storage ? { storage } : {}),
    }
  }

  async function launch(name: string): Promise<void> {
    const token = name === 'ca' ? undefined : await joinToken(serviceSpiffeId(config.trustDomain, name))
    const spec = launchSpecOf(config, name, ctx.home)
    const childOptions = { cacheDir: codeCacheDir() }
    const handle = spec.kind === 'component'
      ? startChild(spec.entry, bootstrapFor(name, token), options.write, childOptions)
      : spec.kind === 'sidecar'
        ? startSidecarChild(spec, bootstrapFor(name, token), options.write, childOptions)
        : startServiceChild(spec, bootstrapFor(name, token), options.write, childOptions)
    children.set(name, handle)
    const state = states.get(name)!
    state.pid = handle.process.pid ?? null
    state.state = 'starting'
    persist()
    void handle.exited.then((code) => onExit(name, handle, code))
    await handle.ready
    state.state = 'ready'
    persist()
  }

  function onExit(name: string, handle: ChildHandle, code: number | null) {
    if (stopping || children.get(name) !== handle) return
    const state = states.get(name)!
    state.pid = null
    state.state = 'restarting'
    state.restarts += 1
    persist()
    const delay = backoff.get(name) ?? 1000
    backoff.set(name, Math.min(delay * 2, MAX_BACKOFF_MS))
    options.write(`[supervisor] ${name} exited (code ${code}); restarting in ${delay / 1000} s`)
    const timer = setTimeout(() => {
      if (stopping) return
      launch(name).then(() => {
        options.write(`[supervisor] ${name} is ready again`)
        // A child that stays up a minute has recovered: reset its backoff.
        setTimeout(() => { if (children.get(name)?.process.exitCode === null) backoff.delete(name) }, 60_000).unref()
      }).catch((error: Error) => {
        options.write(`[supervisor] restarting ${name} failed: ${error.message}`)
        const current = children.get(name)
        if (current && current.process.exitCode === null) void stopChild(current, 2000)
        else onExit(name, current ?? handle, null)
      })
    }, delay)
    timer.unref()
  }

  return {
    state: runState,
    async start() {
      persist()
      if (names.includes('ca')) await launch('ca')
      await Promise.all(names.filter((n) => n !== 'ca').map((n) => launch(n)))
      await waitUntilServing(ctx, config, names)
    },
    async stop() {
      stopping = true
      for (const name of [...names].reverse()) {
        const handle = children.get(name)
        if (!handle) continue
        await stopChild(handle)
        const state = states.get(name)!
        state.pid = null
        state.state = 'stopped'
      }
      persist()
    },
  }
}
