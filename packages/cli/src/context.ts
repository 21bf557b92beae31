// What every `bulwark` command gets: where the home is, the platform config,
// output helpers, and an mTLS caller that speaks to a running component with
// the operator's certificate and checks that component's SPIFFE ID.
import { readFileSync, existsSync } from 'node:fs'
import { Agent, request, createSvidSource, createMtlsAgent, describeCertificate, homePaths, loadPlatformConfig as loadPlatformConfigFile, operatorSpiffeId,
  componentUrl, componentUrls, serviceSpiffeId, type HomePaths, type PlatformConfig } from '@bulwark/core/base'

export class CliError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

export type CallResult = { status: number; headers: Record<string, string | string[] | undefined>; body: unknown; text: string }

export type CliContext = {
  home: string
  paths: HomePaths
  json: boolean
  out(text: string): void
  err(text: string): void
  /** The platform config; throws a CliError (exit 1) when the home is not initialised. */
  config(): PlatformConfig
  /** Calls a running component over mTLS as the operator. Non-2xx answers are returned, not thrown. */
  call(component: string, method: string, path: string, body?: unknown, options?: { timeoutMs?: number; headers?: Record<string, string>; url?: string }): Promise<CallResult>
  /** Like call, but throws a CliError carrying the problem detail on a non-2xx answer. */
  callOk(component: string, method: string, path: string, body?: unknown): Promise<CallResult>
  close(): Promise<void>
}

export function createCliContext(options: { home: string; json: boolean; out?: (t: string) => void; err?: (t: string) => void }): CliContext {
  const paths = homePaths(options.home)
  let config: PlatformConfig | undefined
  const agents = new Map<string, Agent>()
  const out = options.out ?? ((t: string) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`))
  const err = options.err ?? ((t: string) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`))

  function loadPlatformConfig(): PlatformConfig {
    if (config) return config
    if (!existsSync(paths.config)) throw new CliError(`no Bulwark home at \`${options.home}\`: run \`bulwark init\` first`)
    config = loadPlatformConfigFile(paths.config)
    return config
  }

  /** `one`: a client of exactly the replica addressed (health of one replica), never spread over the others. */
  function agentFor(component: string, one = false): Agent {
    const key = one ? `${component}#one` : component
    const existing = agents.get(key)
    if (existing) return existing
    const cfg = loadPlatformConfig()
    let keyPem: string, certPem: string
    try {
      keyPem = readFileSync(paths.operatorKey, 'utf8')
      certPem = readFileSync(paths.operatorCert, 'utf8')
    } catch {
      throw new CliError(`cannot read the operator certificate in \`${paths.operatorDir}\``)
    }
    const [leaf, ...chain] = certPem.split(/(?=-----BEGIN CERTIFICATE-----)/)
    const info = describeCertificate(leaf!)
    const source = createSvidSource({
      spiffeId: operatorSpiffeId(cfg.trustDomain), keyPem, certPem: leaf!, chainPem: chain.join(''),
      bundlePem: readFileSync(paths.rootCert, 'utf8'), notAfter: info.notAfter, serial: info.serial,
    })
    const expected = serviceSpiffeId(cfg.trustDomain, component)
    // A component with replicas: the command reaches whichever is up (calls for one replica name its `url`, which is one of these).
    const urls = component === 'gateway' || one ? [] : componentUrls(cfg, component)
    const agent = createMtlsAgent(source, { verifyPeer: (id) => id === expected, connections: 4, ...(urls.length > 1 ? { replicas: urls } : {}) })
    agents.set(key, agent)
    return agent
  }

  async function call(component: string, method: string, path: string, body?: unknown, callOptions: { timeoutMs?: number; headers?: Record<string, string>; url?: string } = {}): Promise<CallResult> {
    // `url`: one replica of the component (the same SPIFFE ID is checked).
    const base = callOptions.url ?? componentUrl(loadPlatformConfig(), component)
    let res
    try {
      res = await request(`${base}${path}`, {
        method: method as 'GET',
        dispatcher: agentFor(component, callOptions.url !== undefined),
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), accept: 'application/json', ...callOptions.headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: callOptions.timeoutMs ?? 30_000,
        bodyTimeout: callOptions.timeoutMs ?? 30_000,
      })
    } catch (error) {
      throw new CliError(`cannot reach \`${component}\` at ${base}: ${(error as Error).message}`)
    }
    const text = await res.body.text()
    let parsed: unknown = undefined
    try { parsed = text.length > 0 ? JSON.parse(text) : undefined } catch { parsed = undefined }
    return { status: res.statusCode, headers: res.headers, body: parsed, text }
  }

  return {
    home: options.home,
    paths,
    json: options.json,
    out,
    err,
    config: loadPlatformConfig,
    call,
    async callOk(component, method, path, body) {
      const result = await call(component, method, path, body)
      if (result.status < 200 || result.status >= 300) {
        const problem = result.body as { detail?: string; code?: string } | undefined
        throw new CliError(`${component}: ${result.status}${problem?.code ? ` ${problem.code}` : ''}: ${problem?.detail ?? result.text.slice(0, 200)}`)
      }
      return result
    },
    async close() {
      await Promise.all([...agents.values()].map((a) => a.close()))
      agents.clear()
    },
  }
}
