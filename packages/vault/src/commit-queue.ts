// Group commit: writes submitted in the same turn of the event loop share one
// transaction and therefore one fsync (SQLite synchronous=FULL; one commit
// record on PostgreSQL). Each write runs in its own SAVEPOINT, so one failing
// write (a wrong check-and-set version) rolls back alone. Promises resolve
// only after COMMIT returns: an acknowledged write is durable.
//
// Replicas on one PostgreSQL: a write locks its path's metadata row first
// (`FOR UPDATE`), and a batch runs its writes in path order, so two replicas'
// batches take their locks in the same order. A batch PostgreSQL still aborts
// (deadlock, serialization failure) is run again from the start.
import type { SqlExecutor, SqlStore } from '@bulwark/core'
import { isRetryable } from './store.ts'

type Job = { key: string; fn: (tx: SqlExecutor) => Promise<unknown>; resolve: (value: unknown) => void; reject: (error: unknown) => void }

export type CommitQueue = {
  /** Runs `fn` in the next batch; `key` (the secret path) orders the batch. */
  submit<T>(key: string, fn: (tx: SqlExecutor) => Promise<T>): Promise<T>
  /** Runs at the start of every batch, inside its transaction (e.g. to learn a newer KEK). */
  beforeBatch(hook: (tx: SqlExecutor) => Promise<void>): void
  /** Runs after each successful commit (e.g. to wake watchers). */
  onCommit(listener: () => void): void
  /** Resolves once every submitted write is settled. */
  drain(): Promise<void>
  readonly batches: number
}

const ATTEMPTS = 3

export function createCommitQueue(store: SqlStore, options: { maxBatch: number }): CommitQueue {
  let queue: Job[] = []
  let scheduled = false
  let running = false
  let batches = 0
  const listeners: Array<() => void> = []
  const hooks: Array<(tx: SqlExecutor) => Promise<void>> = []
  let idle: Array<() => void> = []

  async function runBatch(jobs: Job[]): Promise<Array<{ ok: boolean; value: unknown }>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await store.transaction(async (tx) => {
          for (const hook of hooks) await hook(tx)
          const results: Array<{ ok: boolean; value: unknown }> = []
          for (const job of jobs) {
            await tx.run('SAVEPOINT w')
            try {
              results.push({ ok: true, value: await job.fn(tx) })
              await tx.run('RELEASE SAVEPOINT w')
            } catch (error) {
              // The whole transaction is lost: retry it, or fail every job in it.
              if (isRetryable(error)) throw error
              await tx.run('ROLLBACK TO SAVEPOINT w')
              await tx.run('RELEASE SAVEPOINT w')
              results.push({ ok: false, value: error })
            }
          }
          return results
        })
      } catch (error) {
        if (!isRetryable(error) || attempt >= ATTEMPTS) throw error
      }
    }
  }

  async function flush(): Promise<void> {
    scheduled = false
    running = true
    // Stable: two writes to one path keep their order.
    const jobs = queue.slice(0, options.maxBatch).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    queue = queue.slice(jobs.length)
    try {
      const results = await runBatch(jobs)
      batches++
      jobs.forEach((job, i) => (results[i]!.ok ? job.resolve(results[i]!.value) : job.reject(results[i]!.value)))
      for (const listener of listeners) listener()
    } catch (error) {
      for (const job of jobs) job.reject(error)
    } finally {
      running = false
      if (queue.length > 0) schedule()
      settle()
    }
  }

  function settle(): void {
    if (queue.length === 0 && !scheduled && !running) {
      const waiting = idle
      idle = []
      for (const resolve of waiting) resolve()
    }
  }

  function schedule(): void {
    // One batch at a time: the next one gathers while this one commits.
    if (scheduled || running) return
    scheduled = true
    setImmediate(() => void flush())
  }

  return {
    submit<T>(key: string, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ key, fn, resolve: resolve as (v: unknown) => void, reject })
        schedule()
      })
    },
    beforeBatch(hook) { hooks.push(hook) },
    onCommit(listener) { listeners.push(listener) },
    drain() {
      if (queue.length === 0 && !scheduled && !running) return Promise.resolve()
      return new Promise((resolve) => idle.push(resolve))
    },
    get batches() { return batches },
  }
}
