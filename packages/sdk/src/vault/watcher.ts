// The secrets watcher: fetch every path at start-up (fail if one is
// unreadable), then long-poll each with If-None-Match so a change arrives
// within one round trip. Errors are reported by code, never with a value.
import { toSecret, type Secret } from './secret.ts'
import { VaultError } from './errors.ts'

export type WatchOptions = {
  /** Called after a path's value changed (not on start-up). Read the new value with `get(path)`. */
  onChange?: (path: string, secret: Secret | undefined) => void
  onError?: (path: string, error: VaultError | Error) => void
  waitSeconds?: number
  /** Pause after an error before polling again. */
  retryMs?: number
}

export type SecretsWatcher = {
  get(path: string): Secret | undefined
  stop(): void
}

type Fetch = (path: string, etag: string | undefined, signal: AbortSignal, waitSeconds: number) => Promise<{ status: number; body: any; etag?: string }>

export async function startWatcher(paths: string[], opts: WatchOptions, fetch: Fetch): Promise<SecretsWatcher> {
  const waitSeconds = opts.waitSeconds ?? 30
  const retryMs = opts.retryMs ?? 2000
  const controller = new AbortController()
  const values = new Map<string, Secret | undefined>()
  const etags = new Map<string, string | undefined>()

  for (const path of paths) {
    const res = await fetch(path, undefined, controller.signal, waitSeconds)
    values.set(path, toSecret(res.body))
    etags.set(path, res.etag)
  }

  const pause = (ms: number) => new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    controller.signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
  })

  async function loop(path: string): Promise<void> {
    while (!controller.signal.aborted) {
      try {
        const res = await fetch(path, etags.get(path) ?? '"0"', controller.signal, waitSeconds)
        if (res.status === 304) continue
        etags.set(path, res.etag)
        const secret = toSecret(res.body)
        values.set(path, secret)
        opts.onChange?.(path, secret)
      } catch (error) {
        if (controller.signal.aborted) return
        if (error instanceof VaultError && error.status === 404 && values.get(path) !== undefined) {
          values.set(path, undefined)
          etags.set(path, undefined)
          opts.onChange?.(path, undefined)
        }
        opts.onError?.(path, error as Error)
        await pause(retryMs)
      }
    }
  }
  for (const path of paths) void loop(path)

  return {
    get: (path) => values.get(path),
    stop: () => controller.abort(),
  }
}
