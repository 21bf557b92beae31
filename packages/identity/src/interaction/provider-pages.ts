// Pages oidc-provider renders itself (device flow, logout, errors), in our
// markup: no script, no inline style, labels on inputs, escaped values.
import type { KoaContextWithOIDC } from 'oidc-provider'
import { escapeHtml, messagePage, page, stripInlineHandlers } from './views.ts'

export const deviceFlowPages = {
  async userCodeInputSource(ctx: KoaContextWithOIDC, form: string, _out: unknown, err?: { name?: string; userCode?: string }) {
    const message = err ? 'That code is not valid. Try again.' : 'Enter the code shown on your device.'
    ctx.body = page('Connect a device', `<h1>Connect a device</h1><p${err ? ' class="error" role="alert"' : ''}>${escapeHtml(message)}</p>
<label for="user_code">Device code</label>${stripInlineHandlers(form).replace('name="user_code"', 'name="user_code" id="user_code"')}
<button type="submit" form="op.deviceInputForm">Continue</button>`)
  },
  async userCodeConfirmSource(ctx: KoaContextWithOIDC, form: string, client: { clientName?: string; clientId: string }, _info: unknown, userCode: string) {
    ctx.body = page('Confirm device', `<h1>Confirm device</h1><p>${escapeHtml(client.clientName ?? client.clientId)} shows the code <code>${escapeHtml(userCode)}</code>. Continue only if it matches.</p>
${form}<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" class="secondary" form="op.deviceConfirmForm" value="yes" name="abort">Abort</button>`)
  },
  async successSource(ctx: KoaContextWithOIDC) {
    ctx.body = messagePage('Device connected', 'You can return to your device.')
  },
}

export const logoutPages = {
  async logoutSource(ctx: KoaContextWithOIDC, form: string) {
    ctx.body = page('Sign out', `<h1>Sign out?</h1>${form}<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" class="secondary" form="op.logoutForm">No, stay signed in</button>`)
  },
  async postLogoutSuccessSource(ctx: KoaContextWithOIDC) {
    ctx.body = messagePage('Signed out', 'You have been signed out.')
  },
}

export async function renderError(ctx: KoaContextWithOIDC, out: { error?: string; error_description?: string }) {
  ctx.type = 'html'
  ctx.body = messagePage('Something went wrong', `${out.error ?? 'error'}: ${out.error_description ?? ''}`)
}
