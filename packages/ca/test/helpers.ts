// Shared set-up for the CA tests: a temp home with real material, a running
// CA on 127.0.0.1:0, an operator client, and small request helpers.
import { readFileSync } from 'node:fs'
import { request, type Dispatcher } from 'undici'
import {
  createHealth, createMemoryAuditSink, createMtlsAgent, createSilentLogger, createSvidSource, describeCertificate,
  expectSpiffeId, homePaths, loadConfig, operatorSpiffeId, type BootstrapMessage, serviceSpiffeId, type HomePaths, type Svid,
} from '@bulwark/core'
import { tempDir } from '@bulwark/testkit'
import { CaConfigSchema, initCaMaterial, issueOperatorCertificate, startCa, type CaConfig, type RunningCa } from '../src/index.ts'
import { openCaSqlStore } from '../src/store.ts'

export const TD = 'bulwark.test'
export const CA_ID = serviceSpiffeId(TD, 'ca')

export type OffsetClock = { now(): number; advance(ms: number): void; set(ms: number): void }

export type Harness = {
  paths: HomePaths
  running: RunningCa
  url: string
  rootPem: string
  audit: ReturnType<typeof createMemoryAuditSink>
  /** Real time plus an offset tests can move (token expiry). */
  clock: OffsetClock
  operator: Dispatcher
  /** JSON call as the operator. */
  op(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>
  /** JSON call with any dispatcher. */
  call(dispatcher: Dispatcher, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>
  joinToken(spiffeId: string, ttlSeconds?: number): Promise<string>
  agentFor(svid: Svid): Dispatcher
  /** Stops the CA's listener (the store stays); `startCa` brings it back on the same port. */
  stopCa(): Promise<void>
  startCa(): Promise<void>
  close(): Promise<void>
}

export function operatorSvid(paths: HomePaths): Svid {
  const [leaf, ...chain] = readFileSync(paths.operatorCert, 'utf8').split(/(?=-----BEGIN CERTIFICATE-----)/)
  const info = describeCertificate(leaf!)
  return {
    spiffeId: operatorSpiffeId(TD), keyPem: readFileSync(paths.operatorKey, 'utf8'), certPem: leaf!, chainPem: chain.join(''),
    bundlePem: readFileSync(paths.rootCert, 'utf8'), notAfter: info.notAfter, serial: info.serial,
  }
}

/** A CA on its own key material, or (`shareWith`) a second replica of another harness's CA: same home (keys), same store. */
export async function startHarness(overrides: Partial<CaConfig> = {}, options: { storage?: BootstrapMessage['storage']; shareWith?: Harness } = {}): Promise<Harness> {
  const dir = options.shareWith ? undefined : tempDir('bulwark-ca-')
  const paths = options.shareWith?.paths ?? homePaths(dir!.path)
  if (!options.shareWith) {
    await initCaMaterial(paths, { trustDomain: TD })
    await issueOperatorCertificate(paths, { trustDomain: TD })
  }
  const config = loadConfig(CaConfigSchema, { value: { trustDomain: TD, ...overrides } })
  const audit = createMemoryAuditSink('ca')
  let offset = 0
  const clock: OffsetClock = { now: () => Date.now() + offset, advance: (ms: number) => { offset += ms }, set: (ms: number) => { offset = ms - Date.now() } }
  const store = await openCaSqlStore({ sqlitePath: paths.database('ca'), storage: options.storage })
  const health = createHealth()
  health.setReady(true)
  const deps = { log: createSilentLogger(), audit, paths, clock, store, health }
  let running = await startCa(config, deps)
  let stopped = false
  const agents: Dispatcher[] = []
  const agentFor = (svid: Svid) => {
    const agent = createMtlsAgent(createSvidSource(svid), { verifyPeer: expectSpiffeId(CA_ID) })
    agents.push(agent)
    return agent
  }
  const operator = agentFor(operatorSvid(paths))
  async function call(dispatcher: Dispatcher, method: string, path: string, body?: unknown) {
    const res = await request(`${running.url}${path}`, {
      method: method as 'GET', dispatcher,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.body.text()
    return { status: res.statusCode, body: text ? JSON.parse(text) : undefined }
  }
  const harness: Harness = {
    paths, get running() { return running }, url: running.url, rootPem: readFileSync(paths.rootCert, 'utf8'), audit, clock, operator,
    call,
    op: (method, path, body) => call(operator, method, path, body),
    async joinToken(spiffeId, ttlSeconds) {
      const res = await call(operator, 'POST', '/v1/join-tokens', { spiffeId, ...(ttlSeconds ? { ttlSeconds } : {}) })
      if (res.status !== 201) throw new Error(`join token: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body.token as string
    },
    agentFor,
    async stopCa() {
      stopped = true
      await running.close()
    },
    async startCa() {
      running = await startCa(config, deps, { port: Number(new URL(harness.url).port) })
      stopped = false
    },
    async close() {
      await Promise.all(agents.map((a) => a.close()))
      if (!stopped) await running.close()
      await store.close()
      dir?.remove()
    },
  }
  return harness
}

export function eventsOf(h: Harness, type: string) {
  return h.audit.events.filter((e) => e.type === type)
}
