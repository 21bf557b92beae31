// The emitter's write-ahead log: an append-only JSON Lines file that every
// emitted event goes through before anyone is told it happened. Each append is
// one write + one fdatasync for a whole group of events (group commit); the
// sender reads what is durable from its acknowledged offset and advances that
// offset once the audit service has taken the events. A crash therefore loses
// nothing that was durable: on restart everything past the (in-memory) offset
// is sent again and the log drops the duplicates by id.
// Offsets are logical (bytes since the spool was opened), so the file can be
// truncated (everything delivered) or compacted (a large delivered prefix cut
// off) without invalidating an offset the sender is holding.
// The file has a size cap: past it, appends are refused and counted by the
// emitter, and the component reports itself not ready until the spool has
// drained below half of it.
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs'
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { AuditEvent } from '@bulwark/core'

export type Spool = {
  readonly depth: number
  /** True once an append had to refuse events because the file reached its size cap. */
  readonly full: boolean
  /** Appends what fits under the size cap, durably (one write, one fdatasync); returns how many events were refused. */
  append(events: readonly AuditEvent[]): Promise<number>
  /** Durable events not yet delivered, each with the (logical) offset just past its line; `end` is past the last complete line (torn lines skipped). */
  read(): Promise<{ events: Array<{ event: AuditEvent; end: number }>; end: number; skipped: number }>
  /** Marks everything up to (logical) offset `offset` as delivered. */
  advance(offset: number, count: number): Promise<void>
  close(): Promise<void>
}

function countLines(path: string): number {
  if (!existsSync(path)) return 0
  const text = readFileSync(path, 'utf8')
  // A crash may have torn the last line; end it so the next append starts clean.
  if (text.length > 0 && !text.endsWith('\n')) appendFileSync(path, '\n')
  return text.split('\n').filter((line) => line.trim().length > 0).length
}

/** Default size cap: a long audit outage must not fill the disk (or, when it drains, the memory). */
export const DEFAULT_SPOOL_MAX_BYTES = 64 * 1024 * 1024
/** A delivered prefix this large (or a quarter of the cap) is cut off even while newer events wait. */
const COMPACT_BYTES = 1024 * 1024

export function createSpool(path: string, onDepth: (depth: number) => void = () => {}, maxBytes = DEFAULT_SPOOL_MAX_BYTES): Spool {
  let depth = countLines(path)
  /** Bytes in the file, all of them durable (appends count only once fdatasync returned). */
  let size = existsSync(path) ? statSync(path).size : 0
  /** Logical offset of the file's first byte, and of the first undelivered byte. */
  let base = 0
  let offset = 0
  let full = false
  let handle: FileHandle | undefined
  // Appends, truncation and compaction never overlap: one chain runs them in order.
  let chain: Promise<unknown> = Promise.resolve()
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn)
    chain = next.catch(() => undefined)
    return next
  }
  const compactAt = Math.max(1, Math.min(COMPACT_BYTES, Math.floor(maxBytes / 4)))
  onDepth(depth)

  async function appendHandle(): Promise<FileHandle> {
    if (handle) return handle
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    handle = await open(path, 'a', 0o600)
    return handle
  }

  /** Rewrites the undelivered tail into a fresh file (fsynced before it replaces the old one). */
  async function compact(): Promise<void> {
    const cut = offset - base
    const source = await open(path, 'r')
    let tail: Buffer
    try {
      tail = Buffer.alloc(size - cut)
      const { bytesRead } = await source.read(tail, 0, tail.length, cut)
      tail = tail.subarray(0, bytesRead)
    } finally {
      await source.close()
    }
    const temporary = `${path}.compact`
    const out = await open(temporary, 'w', 0o600)
    try {
      await out.write(tail)
      await out.datasync()
    } finally {
      await out.close()
    }
    await handle?.close()
    handle = undefined
    await rename(temporary, path)
    // The rename itself must survive a power loss, or later appends would go to a file nobody finds.
    const directory = await open(dirname(path), 'r')
    try { await directory.sync() } catch { /* not supported on every platform */ } finally { await directory.close() }
    base += cut
    size = tail.length
  }

  return {
    get depth() { return depth },
    get full() { return full },
    append(events) {
      if (events.length === 0) return Promise.resolve(0)
      return serial(async () => {
        const lines: string[] = []
        let added = 0
        for (const event of events) {
          const line = `${JSON.stringify(event)}\n`
          const length = Buffer.byteLength(line)
          if (size + added + length > maxBytes) break
          lines.push(line)
          added += length
        }
        // Full stays true until the spool drains below half its cap: room for a small event is not room for the next.
        if (lines.length < events.length) full = true
        if (lines.length === 0) return events.length
        const file = await appendHandle()
        await file.write(lines.join(''))
        await file.datasync()
        size += added
        depth += lines.length
        onDepth(depth)
        return events.length - lines.length
      })
    },
    async read() {
      const from = offset - base
      if (size <= from || !existsSync(path)) return { events: [], end: offset, skipped: 0 }
      // Only bytes whose fdatasync returned are read: the sender ships what is durable, never ahead of it.
      const source = await open(path, 'r')
      let buffer: Buffer
      try {
        buffer = Buffer.alloc(size - from)
        const { bytesRead } = await source.read(buffer, 0, buffer.length, from)
        buffer = buffer.subarray(0, bytesRead)
      } finally {
        await source.close()
      }
      const out: Array<{ event: AuditEvent; end: number }> = []
      let skipped = 0
      let start = 0
      while (start < buffer.length) {
        const newline = buffer.indexOf(10, start)
        if (newline === -1) break // a torn final line from a crash: not acknowledged by anyone, skip it
        const text = buffer.subarray(start, newline).toString('utf8').trim()
        start = newline + 1
        if (text.length === 0) continue
        try {
          out.push({ event: JSON.parse(text) as AuditEvent, end: base + from + start })
        } catch {
          skipped += 1 // a line torn by a crash: never acknowledged by anyone
        }
      }
      return { events: out, end: base + from + start, skipped }
    },
    advance(to, count) {
      return serial(async () => {
        offset = Math.max(offset, to)
        depth = Math.max(0, depth - count)
        if (offset - base >= size) {
          // Everything in the file is delivered: empty it (the append handle writes at the new end).
          if (handle) await handle.truncate(0)
          else if (existsSync(path)) {
            const file = await open(path, 'r+')
            try { await file.truncate(0) } finally { await file.close() }
          }
          base = offset
          size = 0
          depth = 0
          full = false
        } else {
          const delivered = offset - base
          // Under steady load the file is rarely empty at the instant of an ack: cut a large delivered
          // prefix off once it outweighs what still waits (each byte is copied at most once per cut).
          if (delivered >= compactAt && delivered >= size - delivered) await compact()
          // Out of the full state only with real room again (half the cap), not room for one more small event.
          if (full && size < maxBytes / 2) full = false
        }
        onDepth(depth)
      })
    },
    close() {
      return serial(async () => {
        await handle?.close()
        handle = undefined
      })
    },
  }
}
