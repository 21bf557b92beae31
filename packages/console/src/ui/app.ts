// The console's browser code: a shell with navigation and a hash router over
// the pages. lit-html renders (escaping every value); there is no inline
// script or style anywhere, so the CSP can forbid both.
import { html, render, type TemplateResult } from 'lit-html'
import { getJson, setCsrf, csrf } from './api.ts'
import { overviewPage, stopOverview } from './overview.ts'
import { auditPage, auditEntryPage } from './audit.ts'

export type SessionInfo = {
  operator: { name: string; sub: string }
  csrf: string
  idleTimeoutSeconds: number
  lastAction: { action: string; service: string; outcome: 'success' | 'failure'; message: string } | null
}

let session: SessionInfo | undefined
const root = () => document.getElementById('app')!

function layout(current: string, content: TemplateResult): TemplateResult {
  const link = (href: string, label: string, key: string) =>
    html`<a href=${href} aria-current=${current === key ? 'page' : 'false'}>${label}</a>`
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <span class="brand">Bulwark console</span>
      <nav aria-label="Console">${link('#/overview', 'Overview', 'overview')} ${link('#/audit', 'Audit', 'audit')}</nav>
      <form class="signout" method="post" action="/console/logout">
        <input type="hidden" name="csrf" .value=${csrf()}>
        <span class="who">${session?.operator.name}</span>
        <button type="submit">Sign out</button>
      </form>
    </header>
    <main id="main" tabindex="-1">${content}</main>`
}

export function show(current: string, content: TemplateResult): void {
  render(layout(current, content), root())
}

async function route(): Promise<void> {
  const hash = location.hash || '#/overview'
  stopOverview()
  const entry = /^#\/audit\/(\d+)$/.exec(hash)
  if (entry) await auditEntryPage(Number(entry[1]))
  else if (hash.startsWith('#/audit')) await auditPage()
  else await overviewPage(session!)
  // Move focus to the new page's heading so keyboard and screen-reader users land on it.
  document.querySelector<HTMLElement>('main h1')?.focus()
}

async function main(): Promise<void> {
  session = await getJson<SessionInfo>('/console/api/session')
  setCsrf(session.csrf)
  // lit-html adds to what a container holds: the shell's placeholder goes first.
  root().replaceChildren()
  window.addEventListener('hashchange', () => void route())
  await route()
}

void main()
