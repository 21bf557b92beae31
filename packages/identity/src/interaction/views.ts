// Server-rendered pages: login, MFA, TOTP enrolment, consent, device flow and
// logout. No script at all (the CSP forbids it), labels on every input, one
// stylesheet from our own origin, every dynamic value escaped.
export const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
export const STYLESHEET_PATH = '/interaction/assets/style.css'
export const STYLESHEET = `body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:2rem 1rem;color:#1d1f23}
main{max-width:22rem;margin:0 auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:.8rem 0 .3rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;font-size:1rem;border:1px solid #888;border-radius:4px}
button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem;border:0;border-radius:4px;background:#1f5fbf;color:#fff;cursor:pointer}
button.secondary{background:#e4e6ea;color:#1d1f23}.error{color:#a1141d;background:#fde8ea;padding:.5rem;border-radius:4px}
img.qr{display:block;margin:.5rem auto}code{word-break:break-all}`

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`)
}

export function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><link rel="stylesheet" href="${STYLESHEET_PATH}"></head>
<body><main>${body}</main></body></html>`
}

function errorBlock(error?: string): string {
  return error ? `<p class="error" role="alert" id="form-error">${escapeHtml(error)}</p>` : ''
}

const described = (error?: string) => (error ? ' aria-describedby="form-error" aria-invalid="true"' : '')

export function loginPage(o: { action: string; csrf: string; clientName: string; username?: string; error?: string }): string {
  return page('Sign in', `<h1>Sign in</h1><p>to continue to ${escapeHtml(o.clientName)}</p>${errorBlock(o.error)}
<form method="post" action="${escapeHtml(o.action)}" autocomplete="on">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" required value="${escapeHtml(o.username ?? '')}"${described(o.error)}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${described(o.error)}>
<button type="submit">Sign in</button></form>`)
}

export function mfaPage(o: { action: string; csrf: string; error?: string }): string {
  return page('Two-factor authentication', `<h1>Two-factor authentication</h1>${errorBlock(o.error)}
<form method="post" action="${escapeHtml(o.action)}">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<label for="otp">6-digit code from your authenticator app</label>
<input type="text" id="otp" name="otp" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required${described(o.error)}>
<button type="submit">Verify</button></form>`)
}

export function enrolPage(o: { action: string; csrf: string; qrDataUrl: string; secret: string; error?: string }): string {
  return page('Set up two-factor authentication', `<h1>Set up two-factor authentication</h1>
<p>Your account requires a second factor. Scan this code with an authenticator app, or enter the key by hand.</p>
<img class="qr" src="${escapeHtml(o.qrDataUrl)}" alt="QR code for your authenticator app" width="220" height="220">
<p>Key: <code>${escapeHtml(o.secret)}</code></p>${errorBlock(o.error)}
<form method="post" action="${escapeHtml(o.action)}">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<label for="otp">6-digit code from your authenticator app</label>
<input type="text" id="otp" name="otp" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required${described(o.error)}>
<button type="submit">Verify and continue</button></form>`)
}

export function consentPage(o: { action: string; abort: string; csrf: string; clientName: string; scopes: string[] }): string {
  const items = o.scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('')
  return page('Authorize access', `<h1>Authorize ${escapeHtml(o.clientName)}</h1><p>It asks for:</p><ul>${items}</ul>
<form method="post" action="${escapeHtml(o.action)}"><input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<button type="submit">Allow</button></form>
<form method="post" action="${escapeHtml(o.abort)}"><input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<button type="submit" class="secondary">Deny</button></form>`)
}

export function messagePage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`)
}

/** oidc-provider hands us its own form markup: drop inline handlers, keep the xsrf field. */
export function stripInlineHandlers(form: string): string {
  return form.replace(/\s+on[a-z]+="[^"]*"/gi, '')
}
