// A real relying party (openid-client, not our code) driving the gateway as a
// user would: discovery, authorization code + PKCE through the login (and MFA)
// forms, refresh, client credentials.
import * as client from 'openid-client'
import { fetch as undiciFetch } from 'undici'
import { generate } from 'otplib'
import { Agent } from 'undici'
import type { System } from './system.ts'

export async function discover(system: System, clientId: string, clientSecret?: string): Promise<client.Configuration> {
  const fetchWithCa: client.CustomFetch = (url, options) =>
    undiciFetch(url, { ...(options as object), dispatcher: system.dispatcher }) as unknown as ReturnType<client.CustomFetch>
  return await client.discovery(new URL(system.gateway), clientId, undefined,
    clientSecret ? client.ClientSecretBasic(clientSecret) : client.None(), { [client.customFetch]: fetchWithCa })
}

type Jar = Map<string, string>

function remember(jar: Jar, response: Response): void {
  for (const cookie of response.headers.getSetCookie()) {
    const [pair] = cookie.split(';')
    const eq = pair!.indexOf('=')
    jar.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim())
  }
}

function cookieHeader(jar: Jar): string {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
}

/** The first POST form of a page: its action and hidden fields. */
export function parseForm(html: string): { action: string; fields: Record<string, string>; inputs: string[] } {
  const form = /<form[^>]*method="post"[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html)
    ?? /<form[^>]*action="([^"]*)"[^>]*method="post"[^>]*>([\s\S]*?)<\/form>/i.exec(html)
  if (!form) throw new Error(`no POST form in page:\n${html.slice(0, 800)}`)
  const fields: Record<string, string> = {}
  const inputs: string[] = []
  for (const input of form[2]!.matchAll(/<input[^>]*>/gi)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1]
    if (!name) continue
    inputs.push(name)
    if (/type="hidden"/.test(input[0])) fields[name] = (/value="([^"]*)"/.exec(input[0])?.[1] ?? '').replaceAll('&amp;', '&')
  }
  return { action: form[1]!.replaceAll('&amp;', '&'), fields, inputs }
}

export type LoginResult = { tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers; pages: string[] }

/**
 * Authorization code + PKCE for a public client, submitting the login form
 * (and the MFA form when the account has TOTP) like a browser would.
 */
export type LoginOptions = {
  redirectUri?: string
  /** Connect from another loopback address (127.0.0.0/8), as a different client IP would. */
  localAddress?: string
}

/** Submits the login form once with the given password; returns the page shown (and its status). */
export async function attemptLogin(system: System, config: client.Configuration, username: string, password: string, options: LoginOptions = {}): Promise<{ status: number; html: string }> {
  try {
    await loginWithPkce(system, config, { username, password }, 'openid', { ...options, stopAfterPassword: true })
    return { status: 200, html: '' }
  } catch (error) {
    const page = (error as { page?: { status: number; html: string } }).page
    if (page) return page
    throw error
  }
}

export async function loginWithPkce(system: System, config: client.Configuration, user: { username: string; password: string; totpSecret?: string }, scope: string, options: LoginOptions & { stopAfterPassword?: boolean } = {}): Promise<LoginResult> {
  const redirectUri = options.redirectUri ?? 'http://127.0.0.1:53682/callback'
  const dispatcher = options.localAddress ? new Agent({ connect: { ca: system.rootPem, localAddress: options.localAddress } }) : system.dispatcher
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope, state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  })
  const jar: Jar = new Map()
  const pages: string[] = []
  let next: URL = url
  let method = 'GET'
  let body: URLSearchParams | undefined
  let submittedPassword = false
  try {
  for (let hop = 0; hop < 20; hop++) {
    if (next.origin !== system.gateway) {
      // Left the gateway: this is the redirect back to the relying party.
      const tokens = await client.authorizationCodeGrant(config, next, { pkceCodeVerifier: verifier, expectedState: state })
      return { tokens, pages }
    }
    const res = await undiciFetch(next, {
      method, body, redirect: 'manual', dispatcher,
      headers: { cookie: cookieHeader(jar), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    }) as unknown as Response
    remember(jar, res)
    if (res.status >= 300 && res.status < 400) {
      next = new URL(res.headers.get('location')!, next)
      method = 'GET'
      body = undefined
      continue
    }
    const html = await res.text()
    pages.push(html)
    if (res.status !== 200 || (submittedPassword && options.stopAfterPassword)) {
      throw Object.assign(new Error(`login flow: ${res.status} at ${next.pathname}: ${html.slice(0, 300)}`), { page: { status: res.status, html } })
    }
    const form = parseForm(html)
    const fields = new URLSearchParams(form.fields)
    if (form.inputs.includes('password')) {
      fields.set('username', user.username)
      fields.set('password', user.password)
      submittedPassword = true
    } else if (form.inputs.includes('otp')) {
      if (!user.totpSecret) throw new Error('MFA asked for but no TOTP secret')
      fields.set('otp', await generate({ secret: user.totpSecret }))
    }
    next = new URL(form.action, next)
    method = 'POST'
    body = fields
  }
  throw new Error('login flow did not finish in 20 hops')
  } finally {
    if (dispatcher !== system.dispatcher) await dispatcher.close()
  }
}
