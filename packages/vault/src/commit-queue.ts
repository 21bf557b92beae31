// Group commit: writes submitted in the same turn of the event loop share one
// transaction and therefore one fsync (synchronous=FULL). Each write runs in
// its own SAVEPOINT, so one failing write (a wrong check-and-set version)
// rolls back alone. Promises resolve only after COMMIT returns: an
// acknowledged write is on disk.
import type { Database } from '@bulwark/core'

type Job = { fn: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }

export type CommitQueue = {
  submit<T>(fn: () => T): Promise<T>
  /** Runs after each successful commit (e.g. to wake watchers). */
  onCommit(listener: () => void): void
  /** Resolves once every submitted write is settled. */
  drain(): Promise<void>
  readonly batches: number
}

export function createCommitQueue(db: Database, options: { maxBatch: number }): CommitQueue {
  let queue: Job[] = []
  let scheduled = false
  let batches = 0
  const listeners: Array<() => void> = []
  let idle: Array<() => void> = []

  function flush(): void {
    scheduled = false
    const jobs = queue.slice(0, options.maxBatch)
    queue = queue.slice(jobs.length)
    if (queue.length > 0) schedule()
    const results: Array<{ ok: boolean; value: unknown }> = []
    try {
      db.transaction(() => {
        for (const job of jobs) {
          db.exec('SAVEPOINT w')
          try {
            results.push({ ok: true, value: job.fn() })
            db.exec('RELEASE w')
          } catch (error) {
            db.exec('ROLLBACK TO w')
            db.exec('RELEASE w')
            results.push({ ok: false, value: error })
          }
        }
      })
    } catch (error) {
      for (const job of jobs) job.reject(error)
      settle()
      return
    }
    batches++
    jobs.forEach((job, i) => (results[i]!.ok ? job.resolve(results[i]!.value) : job.reject(results[i]!.value)))
    for (const listener of listeners) listener()
    settle()
  }

  function settle(): void {
    if (queue.length === 0 && !scheduled) {
      const waiting = idle
      idle = []
      for (const resolve of waiting) resolve()
    }
  }

  function schedule(): void {
    if (scheduled) return
    scheduled = true
    setImmediate(flush)
  }

  return {
    submit<T>(fn: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ fn, resolve: resolve as (v: unknown) => void, reject })
        schedule()
      })
    },
    onCommit(listener) { listeners.push(listener) },
    drain() {
      if (queue.length === 0 && !scheduled) return Promise.resolve()
      return new Promise((resolve) => idle.push(resolve))
    },
    get batches() { return batches },
  }
}
