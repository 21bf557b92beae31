// The console's OAuth client `bulwark-console`: a first-party web client that
// signs admins in with authorization code + PKCE and authenticates itself at
// the token endpoint with its own SVID (RFC 8705 tls_client_auth bound to
// `spiffe://<td>/svc/console`), so no client secret exists anywhere. Written
// at every start (the redirect URI follows the gateway's public URL).
import type { IdentityContext } from './context.ts'

export const CONSOLE_CLIENT_ID = 'bulwark-console'

export function consoleClientMetadata(publicUrl: string, trustDomain: string) {
  const base = publicUrl.replace(/\/+$/, '')
  return {
    client_id: CONSOLE_CLIENT_ID, client_name: 'Bulwark console', application_type: 'web' as const,
    token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_san_uri: `spiffe://${trustDomain}/svc/console`,
    grant_types: ['authorization_code'], response_types: ['code'],
    redirect_uris: [`${base}/console/callback`], post_logout_redirect_uris: [`${base}/console/signed-out`],
    // auth_time in every ID token: the console checks how fresh a step-up sign-in is.
    require_auth_time: true, scope: 'openid profile', first_party: true,
  }
}

/** Registers (or refreshes) the console's client; returns true when it changed. */
export function ensureConsoleClient(ctx: IdentityContext, publicUrl: string, trustDomain: string): boolean {
  const wanted = consoleClientMetadata(publicUrl, trustDomain)
  const current = ctx.clients.get(CONSOLE_CLIENT_ID)
  if (current && JSON.stringify(current) === JSON.stringify(wanted)) return false
  ctx.clients.remove(CONSOLE_CLIENT_ID)
  ctx.clients.create(wanted)
  return true
}
