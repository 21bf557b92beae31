// Load generators: wrk when installed (closed loop, -c connections), else an
// autocannon-style closed loop on undici; and a paced (open-loop) generator
// for latency at a fixed rate, timing each request from its intended start so
// queueing is not hidden (coordinated omission).
import { spawn } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { Pool } from 'undici'

export type LoadResult = { rps: number; p50: number; p99: number; errors: number }

function ms(value: string, unit: string): number {
  const n = Number(value)
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n
}

export async function wrk(url: string, options: { connections: number; seconds: number; headers?: Record<string, string> }): Promise<LoadResult> {
  const args = ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency', '--timeout', '5s']
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`)
  args.push(url)
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  await new Promise((resolve) => child.on('close', resolve))
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)
  const distribution = new Map<string, number>()
  for (const match of out.matchAll(/^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$/gm)) distribution.set(match[1]!, ms(match[2]!, match[3]!))
  const pct = (p: string) => distribution.get(p) ?? Number.NaN
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0)
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0)
  return { rps, p50: pct('50'), p99: pct('99'), errors }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

function pool(url: string, connections: number, ca?: string) {
  const origin = new URL(url).origin
  return new Pool(origin, { connections, pipelining: 1, connect: ca ? { ca, servername: 'localhost' } : undefined })
}

/** Closed loop: `connections` requests in flight for `seconds`. */
export async function loop(url: string, options: { connections: number; seconds: number; headers?: Record<string, string>; ca?: string }): Promise<LoadResult> {
  const p = pool(url, options.connections, options.ca)
  const path = new URL(url).pathname
  const latencies: number[] = []
  let errors = 0
  const end = performance.now() + options.seconds * 1000
  await Promise.all(Array.from({ length: options.connections }, async () => {
    while (performance.now() < end) {
      const start = performance.now()
      try {
        const res = await p.request({ path, method: 'GET', headers: options.headers })
        await res.body.dump()
        if (res.statusCode !== 200) errors++
      } catch {
        errors++
      }
      latencies.push(performance.now() - start)
    }
  }))
  await p.close()
  latencies.sort((a, b) => a - b)
  return { rps: latencies.length / options.seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors }
}

export async function closedLoop(url: string, options: { connections: number; seconds: number; headers?: Record<string, string>; ca?: string }, haveWrk: boolean): Promise<LoadResult> {
  return haveWrk ? wrk(url, options) : loop(url, options)
}

/** Open loop at `rate` requests/s for `seconds`; latency from each request's scheduled start. */
export async function paced(url: string, options: { rate: number; seconds: number; connections: number; headers?: Record<string, string>; ca?: string }): Promise<LoadResult> {
  const p = pool(url, options.connections, options.ca)
  const path = new URL(url).pathname
  // Open every connection (TLS handshakes) and warm both ends before the clock starts:
  // the figure is the latency of requests at this rate, not of connection set-up.
  const warmEnd = performance.now() + 500
  await Promise.all(Array.from({ length: options.connections }, async () => {
    do {
      try {
        const res = await p.request({ path, method: 'GET', headers: options.headers })
        await res.body.dump()
      } catch { /* counted in the timed run, not here */ }
    } while (performance.now() < warmEnd)
  }))
  const latencies: number[] = []
  const inflight = new Set<Promise<void>>()
  let errors = 0
  let sent = 0
  const total = Math.floor(options.rate * options.seconds)
  const begin = performance.now()
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - begin) / 1000) * options.rate))
      for (; sent < due; sent++) {
        const intended = begin + (sent / options.rate) * 1000
        const job = (async () => {
          try {
            const res = await p.request({ path, method: 'GET', headers: options.headers })
            await res.body.dump()
            if (res.statusCode !== 200) errors++
          } catch {
            errors++
          }
          latencies.push(performance.now() - intended)
        })()
        inflight.add(job)
        void job.finally(() => inflight.delete(job))
      }
      if (sent >= total) resolve()
      else setTimeout(tick, 1)
    }
    tick()
  })
  await Promise.all(inflight)
  await p.close()
  latencies.sort((a, b) => a - b)
  return { rps: latencies.length / options.seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors }
}
