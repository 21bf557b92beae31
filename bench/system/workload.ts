// The workload bench/system runs before it measures memory: a few thousand
// requests through the gateway across every route of the demo shop, as its
// users would send them (alice and bob shop, admin reads the directory), with
// token refreshes and logins (a few of them failed) along the way. Bounded in
// count and in time; every answer's status is tallied so that a run whose
// requests failed is not mistaken for a run that worked.
import * as client from 'openid-client'
import type { System } from '../../scripts/lib/system.ts'
import { attemptLogin, discover, loginWithPkce } from '../../scripts/lib/oidc-driver.ts'

export type WorkloadOptions = { requests: number; seconds: number; concurrency: number }
export type WorkloadResult = { requests: number; logins: number; failedLogins: number; seconds: number; byRoute: Map<string, Map<number, number>>; unexpected: string[] }

type Session = { name: string; user: System['creds']['users'][number]; access: string; refresh: string; refreshing?: Promise<void>; cardId?: string; orderIds: string[] }

export async function runWorkload(system: System, options: WorkloadOptions): Promise<WorkloadResult> {
  const started = performance.now()
  const deadline = started + options.seconds * 1000
  const byRoute = new Map<string, Map<number, number>>()
  const unexpected: string[] = []
  let requests = 0
  let logins = 0
  let failedLogins = 0
  const tally = (route: string, status: number, expected: (s: number) => boolean) => {
    requests++
    const counts = byRoute.get(route) ?? new Map<number, number>()
    counts.set(status, (counts.get(status) ?? 0) + 1)
    byRoute.set(route, counts)
    if (!expected(status) && unexpected.length < 20) unexpected.push(`${route}: ${status}`)
  }

  const shopCli = await discover(system, 'shop-cli')
  const scope = system.creds.clients.find((c) => c.clientId === 'shop-cli')!.scopes.join(' ')
  const userNamed = (name: string) => system.creds.users.find((u) => u.username === name)!
  const signIn = async (name: string): Promise<Session> => {
    const user = userNamed(name)
    // After a failed password the account is throttled for a moment (identity answers 429 "wait N seconds"): wait, as a person would.
    for (let attempt = 1; ; attempt++) {
      try {
        const { tokens } = await loginWithPkce(system, shopCli, user, scope)
        logins++
        return { name, user, access: tokens.access_token, refresh: tokens.refresh_token!, orderIds: [] }
      } catch (error) {
        const page = (error as { page?: { status: number; html: string } }).page
        if (page?.status !== 429 || attempt === 3) throw error
        await new Promise((r) => setTimeout(r, 1000 * Number(/Wait (\d+) second/.exec(page.html)?.[1] ?? 1) + 200))
      }
    }
  }
  // A few failed logins (a wrong password, an unknown account): three, identity's free failures before it slows the
  // next logins of an account or address (which is not what this measures); from another loopback address, for
  // accounts that do not sign in again.
  const failLogin = async (username: string) => {
    const page = await attemptLogin(system, shopCli, username, 'not-the-password', { localAddress: '127.0.0.2' })
    failedLogins++
    if (page.status === 200) unexpected.push(`login of ${username} with a wrong password succeeded`)
  }
  const shoppers = [await signIn('alice'), await signIn('bob')]
  const admin = await signIn('admin')
  await failLogin('admin')
  await failLogin('nobody-here')

  const call = async (session: Session | undefined, method: string, path: string, route: string, body?: unknown, expected = (s: number) => s < 400) => {
    const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {}
    if (session) headers.authorization = `Bearer ${session.access}`
    const res = await system.fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined })
    const text = await res.text()
    tally(route, res.status, expected)
    return res.status < 400 && text ? JSON.parse(text) as Record<string, unknown> & { id?: string; items?: Array<{ id: string }> } : {}
  }
  const addCard = async (s: Session) => {
    const card = await call(s, 'POST', '/api/payments/methods', 'payments.createMethod', { cardNumber: '4242424242424242', expMonth: 12, expYear: new Date().getFullYear() + 2, cvc: '123' })
    if (card.id) s.cardId = card.id
  }
  // A refresh token is single-use (reuse revokes the family): one refresh per session at a time.
  const refresh = async (s: Session) => {
    if (s.refreshing) return await s.refreshing
    s.refreshing = (async () => {
      try {
        const tokens = await client.refreshTokenGrant(shopCli, s.refresh)
        s.access = tokens.access_token
        s.refresh = tokens.refresh_token ?? s.refresh
        tally('identity.refresh', 200, () => true)
      } catch (error) {
        tally('identity.refresh', 400, () => false)
        unexpected.push(`refresh of ${s.name}: ${(error as Error).message}`)
      } finally {
        s.refreshing = undefined
      }
    })()
    await s.refreshing
  }

  const products = (await call(undefined, 'GET', '/api/catalog/products', 'catalog.listProducts')).items ?? []
  for (const s of shoppers) await addCard(s)

  // One step of the mix; i picks the route, so the proportions are fixed: mostly reads, one write in five.
  const step = async (i: number) => {
    const s = shoppers[i % shoppers.length]!
    const product = products[i % products.length]
    switch (i % 20) {
      case 0: return void await call(undefined, 'GET', '/api/catalog/products?limit=10', 'catalog.listProducts')
      case 1: case 2: return void await call(s, 'GET', '/api/catalog/products', 'catalog.listProducts')
      case 3: case 4: return void await call(s, 'GET', `/api/catalog/products/${product?.id ?? 'none'}`, 'catalog.getProduct')
      case 5: case 6: return void await call(s, 'GET', '/api/users/me', 'users.getMe')
      case 7: return void await call(s, 'PATCH', '/api/users/me', 'users.updateMe', { displayName: `${s.name} ${i}`, address: `${i} Loopback Lane` })
      case 8: case 9: return void await call(s, 'GET', '/api/payments/methods', 'payments.listMethods')
      case 10: {
        if (!s.cardId || !product) return
        const order = await call(s, 'POST', '/api/orders', 'orders.create', { items: [{ productId: product.id, quantity: 1 + (i % 3) }], paymentMethodId: s.cardId })
        if (order.id) s.orderIds.push(order.id)
        return
      }
      case 11: case 12: return void await call(s, 'GET', '/api/orders?limit=20', 'orders.list')
      case 13: case 14: {
        const id = s.orderIds[i % Math.max(1, s.orderIds.length)]
        if (id) await call(s, 'GET', `/api/orders/${id}`, 'orders.get')
        return
      }
      case 15: return void await call(admin, 'GET', '/api/admin/users?limit=10', 'users.listUsers')
      case 16: return void await call(s, 'GET', '/api/users/me/export', 'users.exportMe')
      case 17: return void await (i % 1000 === 17 ? addCard(s) : call(s, 'GET', '/api/payments/methods', 'payments.listMethods'))
      case 18: return void await (i % 100 === 18 ? refresh(i % 300 === 118 ? admin : s) : call(s, 'GET', '/api/catalog/products', 'catalog.listProducts'))
      case 19: {
        // A new sign-in now and then (argon2id, the login pages, a code grant), and a refused one.
        if (i % 1000 === 19) {
          const fresh = await signIn(s.name)
          Object.assign(s, { access: fresh.access, refresh: fresh.refresh })
        } else if (i === 2519) {
          await failLogin('nobody-here')
        } else {
          await call(admin, 'GET', '/api/users/me', 'users.getMe')
        }
      }
    }
  }
  let next = 0
  const worker = async () => {
    while (requests < options.requests && performance.now() < deadline) await step(next++)
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  return { requests, logins, failedLogins, seconds: (performance.now() - started) / 1000, byRoute, unexpected }
}
