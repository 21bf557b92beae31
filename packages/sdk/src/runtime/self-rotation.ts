// Half-life rotation for a self-issued SVID (the CA's own). Retries with
// backoff so a transient failure never lets the certificate expire silently.
import type { Logger, MutableSvidSource, Svid } from '@bulwark/core'

export function startSelfRotation(source: MutableSvidSource, issue: () => Promise<Svid>, log: Logger): { stop(): void } {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const schedule = (delayMs: number) => {
    if (stopped) return
    timer = setTimeout(run, Math.max(1000, delayMs))
    timer.unref()
  }
  const halfLife = () => {
    const svid = source.current()
    return (svid.notAfter - Date.now()) / 2
  }
  const run = async () => {
    try {
      source.update(await issue())
      schedule(halfLife())
    } catch (error) {
      log.error({ err: error }, 'self-issued SVID rotation failed; retrying')
      schedule(Math.min(30_000, halfLife() / 4))
    }
  }
  schedule(halfLife())
  return { stop() { stopped = true; if (timer) clearTimeout(timer) } }
}
