// Long-poll support: a caller holding revision R of a path waits until the
// path changes (or the wait ends). Used by the sdk's secrets watcher.
export type WatchHub = {
  wait(path: string, timeoutMs: number): Promise<void>
  notify(path: string): void
  close(): void
  /** True once closed: a wait then returns at once. */
  readonly closed: boolean
}

export function createWatchHub(): WatchHub {
  const waiters = new Map<string, Set<() => void>>()
  const timers = new Set<NodeJS.Timeout>()
  let closed = false
  return {
    get closed() { return closed },
    wait(path, timeoutMs) {
      return new Promise((resolve) => {
        if (closed) return resolve()
        let set = waiters.get(path)
        if (!set) waiters.set(path, (set = new Set()))
        const done = () => {
          clearTimeout(timer)
          timers.delete(timer)
          set!.delete(done)
          if (set!.size === 0 && waiters.get(path) === set) waiters.delete(path)
          resolve()
        }
        const timer = setTimeout(done, timeoutMs)
        timers.add(timer)
        set.add(done)
      })
    },
    notify(path) {
      for (const done of [...(waiters.get(path) ?? [])]) done()
    },
    close() {
      closed = true
      for (const set of waiters.values()) for (const done of [...set]) done()
      waiters.clear()
    },
  }
}
