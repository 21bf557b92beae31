// `npm run demo`: a scripted walkthrough of the demo shop through the real
// gateway. Uses the instance `npm start` runs (BULWARK_HOME or .bulwark/), or
// starts a throwaway one. Logs in as alice with authorization code + PKCE,
// buys something, then shows attacks being refused. Prints each step; exits 1
// if anything did not behave as a secure shop must. Never prints a token.
import { generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose'
import { resolveHome } from '@bulwark/core'
import { attachSystem, startSystem, type System } from './lib/system.ts'
import { attemptLogin, discover, loginWithPkce } from './lib/oidc-driver.ts'

let failures = 0
function step(ok: boolean, text: string, detail = ''): void {
  if (!ok) failures++
  process.stdout.write(`${ok ? '  ✓' : '  ✗'} ${text}${detail ? `  (${detail})` : ''}\n`)
}
function title(text: string): void { process.stdout.write(`\n${text}\n`) }

async function api(system: System, method: string, path: string, token?: string, body?: unknown) {
  const res = await system.fetch(path, {
    method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await res.text()
  let json: any
  try { json = JSON.parse(text) } catch { json = text }
  return { status: res.status, json, requestId: res.headers.get('x-request-id') }
}

const home = resolveHome()
let system = await attachSystem(home)
if (!system) {
  process.stdout.write(`No running Bulwark at ${home}; starting a throwaway instance (npm start runs a lasting one)…\n`)
  system = await startSystem({ demo: true })
}
try {
  process.stdout.write(`Bulwark demo against ${system.gateway}\n`)
  const user = (name: string) => system!.creds.users.find((u) => u.username === name)!
  const shopCli = await discover(system, 'shop-cli')
  const scopes = system.creds.clients.find((c) => c.clientId === 'shop-cli')!.scopes.join(' ')

  title('1. alice signs in (authorization code + PKCE S256, through the login form)')
  const alice = (await loginWithPkce(system, shopCli, user('alice'), scopes)).tokens
  const claims = decodeJwt(alice.access_token)
  step(decodeProtectedHeader(alice.access_token).typ === 'at+jwt', 'got an RFC 9068 access token', `sub ${claims.sub}, roles ${JSON.stringify(claims.roles)}, expires in ${Number(claims.exp) - Number(claims.iat)} s`)
  step(Boolean(alice.refresh_token && alice.id_token), 'and an ID token and a rotating refresh token')

  title('2. alice shops')
  const products = await api(system, 'GET', '/api/catalog/products?limit=3')
  step(products.status === 200 && products.json.items.length > 0, 'the catalog is readable without a token', `${products.json.items?.length} products`)
  const product = products.json.items[0]
  const card = await api(system, 'POST', '/api/payments/methods', alice.access_token, { cardNumber: '4242424242424242', expMonth: 12, expYear: new Date().getFullYear() + 2, cvc: '123' })
  step(card.status === 201 || card.status === 200, 'adds a card: stored encrypted through vault transit, the CVC never stored', `${card.json.id} ending ${card.json.last4}`)
  const order = await api(system, 'POST', '/api/orders', alice.access_token, { items: [{ productId: product.id, quantity: 1 }], paymentMethodId: card.json.id })
  step(order.status === 201, 'places an order; orders charges payments with an exchanged token (RFC 8693, act = orders)', `order ${order.json.id}, total ${order.json.total} ${order.json.currency}`)
  const mine = await api(system, 'GET', `/api/orders/${order.json.id}`, alice.access_token)
  step(mine.status === 200, 'reads her own order back')

  title('3. attacks')
  const bob = (await loginWithPkce(system, shopCli, user('bob'), scopes)).tokens
  const stolen = await api(system, 'GET', `/api/orders/${order.json.id}`, bob.access_token)
  step(stolen.status === 404, 'bob asks for alice\'s order: 404, decided by Cedar (owner), indistinguishable from absent', `status ${stolen.status}`)
  const admin = await api(system, 'GET', '/api/admin/users', alice.access_token)
  step(admin.status === 403, 'alice calls an admin route: 403', `${admin.json.code ?? ''} status ${admin.status}`)
  const { privateKey } = await generateKeyPair('RS256')
  const forged = await new SignJWT({ ...claims, roles: ['admin'] })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: decodeProtectedHeader(alice.access_token).kid }).sign(privateKey)
  const forgedCall = await api(system, 'GET', '/api/admin/users', forged)
  step(forgedCall.status === 401, 'a forged admin token (right kid, wrong key): 401', `${forgedCall.json.code ?? ''}`)
  const mass = await api(system, 'PATCH', '/api/users/me', alice.access_token, { displayName: 'Alice', roles: ['admin'] })
  step(mass.status === 400, 'mass assignment (PATCH /me with roles): 400', `${mass.json.detail ?? ''}`)

  title('4. brute force on bob from another address (127.0.0.66): progressive delay, then lockout and an alert (about 1.5 min)')
  let lastStatus = 0
  let lockedMessage = false
  for (let attempt = 1; attempt <= 25 && !lockedMessage; attempt++) {
    const page = await attemptLogin(system, shopCli, 'bob', `wrong-password-${attempt}`, { localAddress: '127.0.0.66' })
    lastStatus = page.status
    lockedMessage = /temporarily locked/i.test(page.html)
    const wait = /Wait (\d+) seconds/.exec(page.html)
    process.stdout.write(`     attempt ${attempt}: ${lockedMessage ? 'locked' : wait ? `throttled, waiting ${wait[1]} s` : 'refused'}\n`)
    if (wait) await new Promise((r) => setTimeout(r, Number(wait[1]) * 1000 + 200))
  }
  step(lockedMessage, 'the account is locked after repeated failures', `last status ${lastStatus}`)
  let alerts: Array<{ type?: string; detector?: string; rule?: string }> = []
  for (let i = 0; i < 20 && alerts.length === 0; i++) {
    const res = await system.cli(['alerts', '--json'])
    try { alerts = (JSON.parse(res.stdout) as { alerts?: typeof alerts }).alerts ?? (JSON.parse(res.stdout) as typeof alerts) } catch { alerts = [] }
    alerts = alerts.filter((a) => /brute/i.test(JSON.stringify(a)))
    if (alerts.length === 0) await new Promise((r) => setTimeout(r, 500))
  }
  step(alerts.length > 0, 'the audit detectors raised a brute-force alert (bulwark alerts)')

  title('5. the audit log')
  const verify = await system.cli(['audit', 'verify'])
  step(verify.code === 0, 'bulwark audit verify: the Merkle log is intact', verify.stdout.trim().split('\n').at(-1))
} finally {
  // Stops a throwaway instance; for an attached one it only closes connections.
  await system.stop()
}
process.stdout.write(failures === 0 ? '\nEvery step behaved as expected.\n' : `\n${failures} step(s) did not behave as expected.\n`)
process.exitCode = failures === 0 ? 0 : 1
