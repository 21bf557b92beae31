// `bulwark sidecar` as the supervisor runs it: a forked process that gets its
// bootstrap over IPC, joins a real CA (`bulwark run ca`) for its SVID, says
// ready, and serves mTLS on the component's port with the service's SPIFFE
// ID, refusing a client without a certificate. A bad `sidecar` section is a
// fatal start naming the bad path.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:tls'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { initCaMaterial } from '@bulwark/ca/material'
import { homePaths, serviceSpiffeId, type BootstrapMessage, type ComponentMessage } from '@bulwark/core/base'
import { freePorts, startStandInIssuer, tempDir, type StandInIssuer } from '@bulwark/testkit'

const CLI_MAIN = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url))
const TD = 'bulwark.test'
const dir = tempDir('bulwark-sidecar-proc-')
const children: ChildProcess[] = []
let issuer: StandInIssuer
let caPort: number
let caHealth: number
let rootPem: string
let tokenFile: string

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Forks `bulwark sidecar` and sends `bootstrap` over IPC, as the supervisor does; resolves with its first answer. */
async function startSidecar(bootstrap: BootstrapMessage): Promise<{ child: ChildProcess; answer: ComponentMessage; output: () => string }> {
  const child = fork(CLI_MAIN, ['sidecar'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  children.push(child)
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  child.send(bootstrap)
  let timer: NodeJS.Timeout | undefined
  const [answer] = await Promise.race([
    once(child, 'message') as Promise<[ComponentMessage]>,
    new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(new Error(`no answer from the sidecar; output:\n${output.slice(-2000)}`)), 90_000) }),
  ]).finally(() => clearTimeout(timer))
  return { child, answer, output: () => output }
}

function bootstrapFor(name: string, port: number, config: Record<string, unknown>): BootstrapMessage {
  const home = join(dir.path, `${name}-home`)
  mkdirSync(join(home, 'ca'), { recursive: true })
  writeFileSync(join(home, 'ca', 'root.crt'), rootPem)
  // identity and policy are named but not running: the sidecar starts, and fails closed until they answer.
  const nowhere = (peer: string) => ({ url: 'https://127.0.0.1:9', spiffeId: serviceSpiffeId(TD, peer) })
  return {
    type: 'bootstrap', component: name, home, trustDomain: TD, spiffeId: serviceSpiffeId(TD, name), listen: { host: '127.0.0.1', port },
    caUrl: `https://127.0.0.1:${caPort}`, publicUrl: 'https://localhost:8443', svidTtlSeconds: 600,
    peers: { identity: nowhere('identity'), policy: nowhere('policy') }, config, demo: false,
    attestation: { kubernetes: { tokenFile } },
  }
}

before(async () => {
  issuer = await startStandInIssuer()
  ;[caPort, caHealth] = await freePorts(2) as [number, number]
  const mounted = join(dir.path, 'mounted')
  const material = homePaths(join(dir.path, 'operator-home'))
  await initCaMaterial(material, { trustDomain: TD })
  mkdirSync(mounted, { recursive: true })
  for (const file of ['root.crt', 'intermediate.crt', 'intermediate.key']) {
    copyFileSync(join(material.caDir, file), join(mounted, file))
    chmodSync(join(mounted, file), 0o440)
  }
  rootPem = readFileSync(join(mounted, 'root.crt'), 'utf8')
  writeFileSync(join(mounted, 'cluster-ca.crt'), issuer.caPem)
  tokenFile = join(mounted, 'token')
  writeFileSync(tokenFile, await issuer.token({ namespace: 'bulwark', serviceAccount: 'bulwark-notes' }))
  const caBootstrap = join(dir.path, 'ca.json')
  writeFileSync(caBootstrap, JSON.stringify({
    type: 'bootstrap', trustDomain: TD, caUrl: `https://127.0.0.1:${caPort}`, publicUrl: 'https://localhost:8443', svidTtlSeconds: 600, demo: false,
    component: 'ca', home: join(dir.path, 'ca-home'), spiffeId: serviceSpiffeId(TD, 'ca'), listen: { host: '127.0.0.1', port: caPort }, peers: {},
    config: { attestation: { kubernetes: { issuer: issuer.issuer, namespace: 'bulwark', caFile: join(mounted, 'cluster-ca.crt'), serviceAccounts: { 'bulwark-notes': 'notes' } } } },
    healthListen: { host: '127.0.0.1', port: caHealth },
    install: [
      { from: join(mounted, 'root.crt'), to: 'ca/root.crt' },
      { from: join(mounted, 'intermediate.crt'), to: 'ca/intermediate.crt' },
      { from: join(mounted, 'intermediate.key'), to: 'ca/intermediate.key', secret: true },
    ],
  }), { mode: 0o600 })
  const ca = spawn(process.execPath, [CLI_MAIN, 'run', 'ca', '--bootstrap', caBootstrap], { stdio: 'ignore' })
  children.push(ca)
  await until('ca ready', async () => {
    try { return (await fetch(`http://127.0.0.1:${caHealth}/readyz`)).status === 200 } catch { return false }
  })
}, { timeout: 120_000 })

after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
  await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)))
  await issuer?.close()
  dir.remove()
})

test('`bulwark sidecar` takes its bootstrap over IPC, joins the CA and serves mTLS on the component\'s port as the service', { timeout: 120_000 }, async () => {
  const [port, appPort] = await freePorts(2) as [number, number]
  const { answer, output } = await startSidecar(bootstrapFor('notes', port, { port, command: ['python3', 'app.py'], sidecar: { appPort } }))
  assert.deepEqual(answer, { type: 'ready', url: `https://127.0.0.1:${port}` }, output())
  assert.match(output(), /forwarding to the app/)
  const socket = connect({ host: '127.0.0.1', port, ca: rootPem, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] })
  let received = ''
  let san = ''
  let refusal: Error | undefined
  socket.on('data', (d: Buffer) => { received += d.toString('latin1') })
  socket.on('error', (error) => { refusal = error })
  socket.on('secureConnect', () => {
    san = socket.getPeerCertificate().subjectaltname ?? ''
    socket.write('GET /notes HTTP/1.1\r\nhost: x\r\n\r\n')
  })
  await new Promise((resolve) => socket.on('close', resolve))
  assert.ok(san.includes(`URI:${serviceSpiffeId(TD, 'notes')}`), san)
  // No client certificate: refused in the handshake (TLS 1.3 reports it to the client afterwards), no HTTP answer.
  assert.match(String((refusal as { code?: string } | undefined)?.code), /CERTIFICATE_REQUIRED/)
  assert.doesNotMatch(received, /^HTTP\//)
})

test('`bulwark sidecar` refuses to start on a bad sidecar section and names the path', { timeout: 120_000 }, async () => {
  const [port] = await freePorts(1) as [number]
  const { child, answer } = await startSidecar(bootstrapFor('notes', port, { port, sidecar: { appPort: port, routes: [{ path: '/x' }] } }))
  assert.equal(answer.type, 'fatal')
  const message = (answer as { message: string }).message
  assert.match(message, /\/sidecar\/routes\/0\/methods/)
  const [code] = await once(child, 'exit') as [number]
  assert.equal(code, 1)
})
