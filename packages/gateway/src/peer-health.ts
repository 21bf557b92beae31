// `GET /healthz` at the edge is 200 only once every enabled component is ready:
// each peer's `/readyz` is polled over mTLS in the background, so a health
// probe never waits on (or amplifies load to) the components.
import { request } from '@bulwark/core'
import type { Dispatcher } from 'undici'
import type { Logger } from '@bulwark/core'

export type PeerHealth = { readonly ready: boolean; status(): Record<string, boolean>; stop(): void }

export function startPeerHealth(options: {
  names: readonly string[]
  peer(name: string): { url: string; dispatcher: Dispatcher }
  intervalMs: number
  log: Logger
}): PeerHealth {
  const status: Record<string, boolean> = Object.fromEntries(options.names.map((n) => [n, false]))
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  async function probe(name: string): Promise<void> {
    try {
      const { url, dispatcher } = options.peer(name)
      const response = await request(`${url}/readyz`, { dispatcher, headersTimeout: 2000, bodyTimeout: 2000 })
      await response.body.dump()
      status[name] = response.statusCode === 200
    } catch {
      status[name] = false
    }
  }
  async function round(): Promise<void> {
    await Promise.all(options.names.map(probe))
    if (!stopped) timer = setTimeout(() => void round(), options.intervalMs).unref()
  }
  void round()
  return {
    get ready() { return options.names.every((n) => status[n]) },
    status: () => ({ ...status }),
    stop() { stopped = true; if (timer) clearTimeout(timer) },
  }
}
