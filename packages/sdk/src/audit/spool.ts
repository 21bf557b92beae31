// The emitter's local spool: an append-only JSON Lines file of events that
// could not be delivered yet. Appends are fsynced; draining reads from a byte
// offset and truncates only once everything in the file was acknowledged, so
// a crash mid-drain re-sends (the log drops the duplicates by id) and never loses.
// The file has a size cap: past it, appends are refused and counted by the
// emitter, and the component reports itself not ready until the spool drains.
import { appendFileSync, existsSync, readFileSync, closeSync, openSync, statSync } from 'node:fs'
import { mkdir, open, readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { AuditEvent } from '@bulwark/core'

export type Spool = {
  readonly depth: number
  /** True once an append had to refuse events because the file reached its size cap. */
  readonly full: boolean
  /** Appends what fits under the size cap; returns how many events were refused. */
  append(events: readonly AuditEvent[]): Promise<number>
  /** Events not yet drained, each with the byte offset just past its line; `end` is past the last complete line (torn lines skipped). */
  read(): Promise<{ events: Array<{ event: AuditEvent; end: number }>; end: number; skipped: number }>
  /** Marks everything up to byte `offset` as delivered. */
  advance(offset: number, count: number): Promise<void>
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

export function createSpool(path: string, onDepth: (depth: number) => void = () => {}, maxBytes = DEFAULT_SPOOL_MAX_BYTES): Spool {
  let depth = countLines(path)
  let bytes = existsSync(path) ? statSync(path).size : 0
  let full = false
  let offset = 0
  onDepth(depth)
  return {
    get depth() { return depth },
    get full() { return full },
    async append(events) {
      if (events.length === 0) return 0
      const lines: string[] = []
      let size = 0
      for (const event of events) {
        const line = `${JSON.stringify(event)}\n`
        const length = Buffer.byteLength(line)
        if (bytes + size + length > maxBytes) break
        lines.push(line)
        size += length
      }
      // Full stays true until a complete drain truncates the file: room for a small event is not room for the next.
      if (lines.length < events.length) full = true
      if (lines.length === 0) return events.length
      await mkdir(dirname(path), { recursive: true, mode: 0o700 })
      const handle = await open(path, 'a', 0o600)
      try {
        await handle.write(lines.join(''))
        await handle.datasync()
      } finally {
        await handle.close()
      }
      bytes += size
      depth += lines.length
      onDepth(depth)
      return events.length - lines.length
    },
    async read() {
      if (!existsSync(path)) return { events: [], end: offset, skipped: 0 }
      const buffer = await readFile(path)
      const out: Array<{ event: AuditEvent; end: number }> = []
      let skipped = 0
      let start = offset
      while (start < buffer.length) {
        const newline = buffer.indexOf(10, start)
        if (newline === -1) break // a torn final line from a crash: not acknowledged by anyone, skip it
        const text = buffer.subarray(start, newline).toString('utf8').trim()
        start = newline + 1
        if (text.length === 0) continue
        try {
          out.push({ event: JSON.parse(text) as AuditEvent, end: start })
        } catch {
          skipped += 1 // a line torn by a crash: never acknowledged by anyone
        }
      }
      return { events: out, end: start, skipped }
    },
    async advance(to, count) {
      offset = to
      depth = Math.max(0, depth - count)
      const size = existsSync(path) ? (await stat(path)).size : 0
      if (offset >= size) {
        closeSync(openSync(path, 'w', 0o600)) // truncate: everything in it is delivered
        offset = 0
        depth = 0
        bytes = 0
        full = false
      }
      onDepth(depth)
    },
  }
}
