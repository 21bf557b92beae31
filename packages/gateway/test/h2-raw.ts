// An HTTP/2 request with exactly the header fields a test names, repeats
// included. Node's http2 client refuses to send a repeated Authorization or a
// `host` beside `:authority`, so the request goes through a real client whose
// connection rewrites its HEADERS frame on the way out with a block encoded
// here (HPACK, RFC 7541 §6.2.2: literal without indexing, new name, no Huffman
// coding, so nothing enters either dynamic table). The answer is decoded by
// Node's client as usual. One request per session.
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { connect as h2connect } from 'node:http2'
import { Duplex } from 'node:stream'

function hpackInteger(value: number, prefixBits: number, firstByte: number): number[] {
  const max = (1 << prefixBits) - 1
  if (value < max) return [firstByte | value]
  const out = [firstByte | max]
  let rest = value - max
  while (rest >= 128) {
    out.push((rest % 128) + 128)
    rest = Math.floor(rest / 128)
  }
  out.push(rest)
  return out
}

function hpackString(value: string): Buffer {
  const bytes = Buffer.from(value, 'latin1')
  return Buffer.concat([Buffer.from(hpackInteger(bytes.length, 7, 0)), bytes])
}

/** A header block of literal fields, in the given order. */
export function encodeHeaderBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0x00]), hpackString(name), hpackString(value)]))
}

const PREFACE_LENGTH = 24
const HEADERS = 0x1
const END_STREAM = 0x1
const END_HEADERS = 0x4

/** The client's connection: passes every frame but swaps the payload of the first HEADERS frame. */
class RewritingConnection extends Duplex {
  private pending = Buffer.alloc(0)
  private prefaceLeft = PREFACE_LENGTH
  private replaced = false
  private readonly socket: TLSSocket
  private readonly block: Buffer
  constructor(socket: TLSSocket, block: Buffer) {
    super()
    this.socket = socket
    this.block = block
    socket.on('data', (chunk: Buffer) => { this.push(chunk) })
    socket.on('end', () => { this.push(null) })
    socket.on('close', () => { this.destroy() })
    socket.on('error', (error) => { this.destroy(error) })
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: string, done: (error?: Error | null) => void): void {
    this.pending = Buffer.concat([this.pending, chunk])
    const out: Buffer[] = []
    if (this.prefaceLeft > 0) {
      const take = Math.min(this.prefaceLeft, this.pending.length)
      out.push(this.pending.subarray(0, take))
      this.pending = this.pending.subarray(take)
      this.prefaceLeft -= take
    }
    while (this.prefaceLeft === 0 && this.pending.length >= 9) {
      const length = this.pending.readUIntBE(0, 3)
      if (this.pending.length < 9 + length) break
      const frame = this.pending.subarray(0, 9 + length)
      this.pending = this.pending.subarray(9 + length)
      if (frame[3] === HEADERS && !this.replaced) {
        this.replaced = true
        const head = Buffer.alloc(9)
        head.writeUIntBE(this.block.length, 0, 3)
        head[3] = HEADERS
        head[4] = (frame[4]! & END_STREAM) | END_HEADERS
        frame.copy(head, 5, 5, 9)
        out.push(head, this.block)
      } else {
        out.push(frame)
      }
    }
    if (out.length === 0) return done()
    this.socket.write(Buffer.concat(out), done)
  }

  override _final(done: () => void): void {
    this.socket.end(done)
  }

  override _destroy(error: Error | null, done: (error: Error | null) => void): void {
    this.socket.destroy()
    done(error)
  }
}

export type RawH2Answer = { status: number; headers: Record<string, string>; body: string; reset: boolean }

/** Sends one GET whose header block is exactly `fields` (pseudo-headers included) and returns the answer, or `reset` when the stream was refused. */
export async function rawH2Request(options: { port: number; ca: string; fields: ReadonlyArray<readonly [string, string]> }): Promise<RawH2Answer> {
  const block = encodeHeaderBlock(options.fields)
  const session = h2connect(`https://localhost:${options.port}`, {
    createConnection: () => new RewritingConnection(tlsConnect({ host: '127.0.0.1', port: options.port, servername: 'localhost', ca: options.ca, ALPNProtocols: ['h2'] }), block),
  })
  session.on('error', () => {})
  try {
    return await new Promise<RawH2Answer>((resolve) => {
      // What the client thinks it sends; the connection replaces it with `block`.
      const stream = session.request({ ':path': '/', ':method': 'GET' }, { endStream: true })
      let status = 0
      let headers: Record<string, string> = {}
      let body = ''
      stream.on('response', (h) => {
        status = Number(h[':status'])
        headers = Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)]))
      })
      stream.setEncoding('utf8').on('data', (chunk: string) => { body += chunk })
      stream.on('end', () => resolve({ status, headers, body, reset: false }))
      stream.on('error', () => resolve({ status, headers, body, reset: true }))
      stream.on('close', () => resolve({ status, headers, body, reset: stream.rstCode !== 0 && status === 0 }))
    })
  } finally {
    session.destroy()
  }
}
