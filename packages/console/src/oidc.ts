// Signing admins in through Bulwark's identity provider with openid-client
// (OpenID Certified): authorization code + PKCE (S256), state and nonce,
// RFC 9207 `iss` checked, the ID token validated, and the client
// authenticated by its SVID (RFC 8705 tls_client_auth on identity's mTLS
// endpoint aliases). Roles come from the RFC 9068 access token, verified with
// jose against identity's keys; so does `amr` (identity puts it there).
import * as client from 'openid-client'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import { createPeerFetch, type PeerTarget } from './peer-fetch.ts'
import type { Operator } from './sessions.ts'

export const CLIENT_ID = 'bulwark-console'

export type SignInResult = { operator: Operator; idToken: string }

export type OidcClient = {
  redirectUri: string
  /** The authorization URL plus what the callback needs to check the answer. */
  start(options: { stepUp: boolean }): Promise<{ url: string; state: string; nonce: string; codeVerifier: string }>
  finish(currentUrl: URL, checks: { state: string; nonce: string; codeVerifier: string; maxAgeSeconds?: number }): Promise<SignInResult>
  endSessionUrl(idToken: string | undefined): Promise<string>
}

export function createOidcClient(options: { publicUrl: string; gateway: () => PeerTarget; identity: () => PeerTarget }): OidcClient {
  const issuer = options.publicUrl.replace(/\/+$/, '')
  const fetchViaPeer = createPeerFetch({ publicOrigin: new URL(issuer).origin, gateway: options.gateway, identity: options.identity })
  const redirectUri = `${issuer}/console/callback`
  let configuration: Promise<client.Configuration> | undefined
  // Identity's keys, read fresh at each sign-in (rare) over the peer fetch: a rotated key is never missed.
  async function keys() {
    const res = await fetchViaPeer(`${issuer}/oauth2/jwks`)
    if (!res.ok) throw new Error(`identity keys: ${res.status}`)
    return createLocalJWKSet(await res.json() as JSONWebKeySet)
  }

  function config(): Promise<client.Configuration> {
    configuration ??= client.discovery(new URL(issuer), CLIENT_ID, { use_mtls_endpoint_aliases: true }, client.TlsClientAuth(), {
      [client.customFetch]: fetchViaPeer as never,
    }).then((c) => {
      c[client.customFetch] = fetchViaPeer as never
      return c
    }).catch((error: unknown) => {
      configuration = undefined // identity may not be up yet: try again next time
      throw error
    })
    return configuration
  }

  return {
    redirectUri,
    async start({ stepUp }) {
      const c = await config()
      const codeVerifier = client.randomPKCECodeVerifier()
      const state = client.randomState()
      const nonce = client.randomNonce()
      const url = client.buildAuthorizationUrl(c, {
        redirect_uri: redirectUri, scope: 'openid profile', state, nonce,
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
        // OIDC Core §3.1.2.1: a step-up is a fresh sign-in (password and TOTP again), never the existing session.
        ...(stepUp ? { prompt: 'login', max_age: '0' } : {}),
      })
      return { url: url.href, state, nonce, codeVerifier }
    },
    async finish(currentUrl, checks) {
      const c = await config()
      const tokens = await client.authorizationCodeGrant(c, currentUrl, {
        pkceCodeVerifier: checks.codeVerifier, expectedState: checks.state, expectedNonce: checks.nonce, idTokenExpected: true,
        ...(checks.maxAgeSeconds !== undefined ? { maxAge: checks.maxAgeSeconds } : {}),
      })
      const id = tokens.claims()!
      const { payload } = await jwtVerify(tokens.access_token, await keys(), { issuer, typ: 'at+jwt' })
      if (payload.sub !== id.sub || payload.client_id !== CLIENT_ID) throw new Error('access token does not belong to this sign-in')
      const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : []
      // How the user signed in (RFC 8176 `amr`): identity puts it in the access token (RFC 9068 §2.2.1), verified above.
      const methods = Array.isArray(payload.amr) ? payload.amr : Array.isArray(id.amr) ? id.amr : []
      const amr = methods.filter((m): m is string => typeof m === 'string')
      const name = typeof id.preferred_username === 'string' ? id.preferred_username : id.sub
      return { operator: { sub: id.sub, name, roles, amr, authTime: typeof id.auth_time === 'number' ? id.auth_time : 0 }, idToken: tokens.id_token! }
    },
    async endSessionUrl(idToken) {
      const c = await config()
      return client.buildEndSessionUrl(c, {
        client_id: CLIENT_ID, post_logout_redirect_uri: `${issuer}/console/signed-out`, ...(idToken ? { id_token_hint: idToken } : {}),
      }).href
    },
  }
}
