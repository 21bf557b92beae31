// Overview: every component's health, certificate expiry and quarantine
// state, the open alerts, and quarantine/release behind a confirmation and a
// fresh sign-in. One batched request per refresh, every 15 s while visible.
import { html, nothing } from 'lit-html'
import { getJson, postJson } from './api.ts'
import { show, type SessionInfo } from './app.ts'

type Component = { name: string; spiffeId: string; healthy: boolean; quarantined: boolean; svidExpiresAt: string | null }
type Alert = { id: string; detector: string; severity: string; summary: string; time: string }
type Overview = { generatedAt: string; components: Component[]; alerts: Alert[]; alertsAvailable: boolean }

const CONTROL_PLANE = new Set(['ca', 'audit', 'policy', 'vault', 'identity', 'gateway', 'console'])
let timer: ReturnType<typeof setTimeout> | undefined
let banner: SessionInfo['lastAction'] = null
let pending: { action: 'quarantine' | 'release'; service: string } | undefined
let error = ''

export function stopOverview(): void {
  if (timer) clearTimeout(timer)
  timer = undefined
}

function minutesLeft(iso: string | null): string {
  if (!iso) return 'unknown'
  const minutes = Math.round((Date.parse(iso) - Date.now()) / 60_000)
  return minutes <= 0 ? 'expired' : `in ${minutes} min`
}

function confirmDialog() {
  if (!pending) return nothing
  const { action, service } = pending
  const submit = async (e: Event) => {
    e.preventDefault()
    const confirm = (document.getElementById('confirm-name') as HTMLInputElement).value
    try {
      const res = await postJson<{ next: string }>('/console/api/actions', { action, service, confirm })
      location.assign(res.next)
    } catch (err) {
      error = (err as Error).message
      pending = undefined
      void refresh(false)
    }
  }
  const cancel = () => { pending = undefined; void refresh(false) }
  return html`
    <dialog id="confirm" aria-labelledby="confirm-title" @cancel=${cancel}>
      <form @submit=${submit}>
        <h2 id="confirm-title">${action === 'quarantine' ? 'Quarantine' : 'Release'} ${service}?</h2>
        <p>${action === 'quarantine'
          ? `Every certificate of ${service} is revoked and every call to or from it is refused until it is released.`
          : `${service} may join again and its calls are accepted.`}</p>
        <p>You will sign in again (password and a new TOTP code) before this happens.</p>
        <label for="confirm-name">Type <strong>${service}</strong> to confirm</label>
        <input id="confirm-name" name="confirm" autocomplete="off" required pattern=${service}>
        <div class="buttons">
          <button type="button" @click=${cancel}>Cancel</button>
          <button type="submit" class="danger">Continue</button>
        </div>
      </form>
    </dialog>`
}

function view(data: Overview | undefined) {
  const ask = (action: 'quarantine' | 'release', service: string) => () => { pending = { action, service }; void refresh(false) }
  const healthy = data ? data.components.filter((c) => c.healthy).length : 0
  show('overview', html`
    <h1 tabindex="-1">Overview</h1>
    ${banner ? html`<p class=${`banner ${banner.outcome}`} role="status">${banner.message}</p>` : nothing}
    ${error ? html`<p class="banner failure" role="alert">${error}</p>` : nothing}
    ${data ? html`
      <p class="summary" data-testid="health-summary">${healthy} of ${data.components.length} components healthy · updated ${new Date(data.generatedAt).toLocaleTimeString()}</p>
      <section aria-labelledby="components-title">
        <h2 id="components-title">Components</h2>
        <div class="scroll"><table>
          <thead><tr><th scope="col">Component</th><th scope="col">Health</th><th scope="col">Certificate expires</th><th scope="col">SPIFFE ID</th><th scope="col">Actions</th></tr></thead>
          <tbody>${data.components.map((c) => html`
            <tr data-component=${c.name}>
              <th scope="row">${c.name}</th>
              <td><span class=${`state ${c.healthy ? 'ok' : 'bad'}`}>${c.healthy ? 'Healthy' : 'Unhealthy'}</span>${c.quarantined ? html` <span class="state bad">Quarantined</span>` : nothing}</td>
              <td>${minutesLeft(c.svidExpiresAt)}</td>
              <td class="mono">${c.spiffeId}</td>
              <td>${CONTROL_PLANE.has(c.name) ? html`<span class="muted">control plane</span>`
                : c.quarantined ? html`<button @click=${ask('release', c.name)}>Release ${c.name}</button>`
                  : html`<button class="danger" @click=${ask('quarantine', c.name)}>Quarantine ${c.name}</button>`}</td>
            </tr>`)}</tbody>
        </table></div>
      </section>
      <section aria-labelledby="alerts-title">
        <h2 id="alerts-title">Alerts</h2>
        ${!data.alertsAvailable ? html`<p class="banner failure">The audit service did not answer: alerts unknown.</p>`
          : data.alerts.length === 0 ? html`<p>No alerts.</p>`
            : html`<ul class="alerts">${data.alerts.map((a) => html`<li><span class=${`sev ${a.severity}`}>${a.severity}</span> ${a.summary} <span class="muted">${a.detector} · ${new Date(a.time).toLocaleString()}</span></li>`)}</ul>`}
      </section>` : html`<p>Loading…</p>`}
    ${confirmDialog()}`)
  const dialog = document.getElementById('confirm') as HTMLDialogElement | null
  if (dialog && !dialog.open) dialog.showModal()
}

let last: Overview | undefined

async function refresh(fetchData: boolean): Promise<void> {
  if (fetchData) {
    try {
      last = await getJson<Overview>('/console/api/overview')
    } catch (err) {
      error = (err as Error).message
    }
  }
  view(last)
}

export async function overviewPage(session: SessionInfo): Promise<void> {
  banner = session.lastAction
  session.lastAction = null
  const loop = async () => {
    // Hidden tabs do not poll; a visible one asks once every 15 s.
    if (document.visibilityState === 'visible' && !pending) await refresh(true)
    timer = setTimeout(() => void loop(), 15_000)
  }
  view(last)
  await loop()
}
