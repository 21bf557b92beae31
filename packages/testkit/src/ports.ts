// Free loopback ports for tests that must know a port before a server binds
// (config files). Prefer listen(0) where the server can report its port.
import { createServer } from 'node:net'

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < count) ports.add(await freePort(host))
  return [...ports]
}

/** `count` consecutive free loopback ports (for `bulwark init --base-port`). */
export async function freePortBlock(count: number, host = '127.0.0.1'): Promise<number> {
  const { createServer } = await import('node:net')
  const isFree = (port: number) => new Promise<boolean>((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, host, () => server.close(() => resolve(true)))
  })
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000)
    let ok = true
    for (let i = 0; i < count && ok; i++) ok = await isFree(base + i)
    if (ok) return base
  }
  throw new Error(`no block of ${count} free ports found`)
}
