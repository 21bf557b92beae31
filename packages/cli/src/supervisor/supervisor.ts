// `bulwark up`: starts the CA, then every other component with a fresh join
// token each, waits until all are ready, restarts a crashed child with
// backoff (and a new join token), and stops everything in reverse order.
// A component with `replicas: N` is N processes (instances `name`, `name#2`,
// …), each with its own join token for the component's one SPIFFE ID; the
// first replica of every component starts first, the others once all first
// ones are ready (so a first start's seeding and key creation happen once).
import { componentUrl, componentUrls, gatewayUrl, replicaCount, replicaGrpcUrl, replicaPort, serviceSpiffeId, type BootstrapMessage, type PlatformConfig } from '@bulwark/core/base'
import type { CliContext } from '../context.ts'
import { startChild, stopChild, type ChildHandle } from './child.ts'
import { codeCacheDir } from './components.ts'
import { launchSpecOf } from './launch-spec.ts'
import { serviceBootstrapConfig } from './service-bootstrap.ts'
import { startServiceChild, startSidecarChild } from './service-child.ts'
import { waitUntilServing, waitUntilReplicasServe } from './readiness.ts'
import { writeRunState, type ComponentState, type RunState } from './state.ts'
import { resolveStorage } from './storage.ts'

export type Supervisor = {
  start(): Promise<void>
  stop(): Promise<void>
  state(): RunState
}

const JOIN_TOKEN_TTL_SECONDS = 300
const MAX_BACKOFF_MS = 30_000

/** A replica's own gRPC port, when the component serves gRPC (consecutive from `grpcPort`, as its REST ports). */
function withGrpcPort(section: Record<string, unknown>, grpcUrl: string | undefined): Record<string, unknown> {
  if (grpcUrl === undefined || !('grpcPort' in section)) return section
  return { ...section, grpcPort: Number(new URL(grpcUrl).port) }
}

export function createSupervisor(ctx: CliContext, config: PlatformConfig, names: string[], options: { demo: boolean; write: (line: string) => void }): Supervisor {
  const children = new Map<string, ChildHandle>()
  const states = new Map<string, ComponentState>()
  const backoff = new Map<string, number>()
  let stopping = false
  const startedAt = new Date().toISOString()
  // Resolved once, before anything starts: a bad URL or password file stops `up` at once.
  const storage = resolveStorage(config)

  /** One process: `name` for the first replica, `name#N` for replica N. */
  type Instance = { key: string; name: string; replica: number }
  const instances: Instance[] = names.flatMap((name) => Array.from({ length: replicaCount(config, name) }, (_, i) => ({ key: i === 0 ? name : `${name}#${i + 1}`, name, replica: i + 1 })))
  const byKey = new Map(instances.map((i) => [i.key, i]))

  const runState = (): RunState => ({
    supervisorPid: process.pid, startedAt, demo: options.demo, gateway: gatewayUrl(config),
    components: instances.map((i) => states.get(i.key)!),
  })
  const persist = () => writeRunState(ctx.paths.runState, runState())

  for (const { key, name, replica } of instances) {
    states.set(key, {
      name, url: componentUrls(config, name)[name === 'gateway' ? 0 : replica - 1]!, spiffeId: serviceSpiffeId(config.trustDomain, name),
      pid: null, restarts: 0, state: 'starting', ...(replicaCount(config, name) > 1 ? { replica } : {}),
    })
  }

  async function joinToken(spiffeId: string): Promise<string> {
    const res = await ctx.callOk('ca', 'POST', '/v1/join-tokens', { spiffeId, ttlSeconds: JOIN_TOKEN_TTL_SECONDS })
    return (res.body as { token: string }).token
  }

  function bootstrapFor({ name, replica }: Instance, token: string | undefined): BootstrapMessage {
    const section = config.components[name]!
    const { port: _port, enabled: _enabled, ...rest } = section
    const peers: BootstrapMessage['peers'] = {}
    for (const other of Object.keys(config.components)) {
      if (other === name) continue
      const grpcUrl = replicaGrpcUrl(config, other, 1)
      const urls = componentUrls(config, other)
      peers[other] = { url: urls[0]!, spiffeId: serviceSpiffeId(config.trustDomain, other), ...(grpcUrl ? { grpcUrl } : {}), ...(urls.length > 1 ? { urls } : {}) }
    }
    const shared = name === 'gateway' && replicaCount(config, name) > 1
    return {
      type: 'bootstrap', component: name, home: ctx.home, trustDomain: config.trustDomain,
      spiffeId: serviceSpiffeId(config.trustDomain, name),
      listen: { host: name === 'gateway' ? config.publicHost : config.internalHost, port: replicaPort(config, name, replica), ...(shared ? { reusePort: true } : {}) },
      ...(replicaCount(config, name) > 1 ? { replica } : {}),
      caUrl: componentUrl(config, 'ca'), joinToken: token, publicUrl: gatewayUrl(config),
      svidTtlSeconds: config.svidTtlSeconds, peers, config: withGrpcPort(serviceBootstrapConfig(config, name, rest), replicaGrpcUrl(config, name, replica)), demo: options.demo,
      ...(storage ? { storage } : {}),
    }
  }

  async function launch(key: string): Promise<void> {
    const instance = byKey.get(key)!
    const { name } = instance
    const token = name === 'ca' ? undefined : await joinToken(serviceSpiffeId(config.trustDomain, name))
    const spec = launchSpecOf(config, name, ctx.home)
    const childOptions = { cacheDir: codeCacheDir() }
    const bootstrap = bootstrapFor(instance, token)
    const handle = spec.kind === 'component'
      ? startChild(spec.entry, bootstrap, options.write, childOptions)
      : spec.kind === 'sidecar'
        ? startSidecarChild(spec, bootstrap, options.write, childOptions)
        : startServiceChild(spec, bootstrap, options.write, childOptions)
    children.set(key, handle)
    const state = states.get(key)!
    state.pid = handle.process.pid ?? null
    state.state = 'starting'
    persist()
    void handle.exited.then((code) => onExit(key, handle, code))
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
      const more = instances.filter((i) => i.replica > 1)
      if (more.length === 0) return
      await Promise.all(more.map((i) => launch(i.key)))
      await waitUntilReplicasServe(ctx, config, more.filter((i) => i.name !== 'gateway').map((i) => ({ name: i.name, url: states.get(i.key)!.url })))
    },
    async stop() {
      stopping = true
      // Replicas in reverse order, each component's later replicas before its first.
      for (const { key } of [...instances].reverse()) {
        const handle = children.get(key)
        if (!handle) continue
        await stopChild(handle)
        const state = states.get(key)!
        state.pid = null
        state.state = 'stopped'
      }
      persist()
    },
  }
}
