// Audit: search the log (time, type, actor, outcome), open an entry, and
// check its inclusion proof and the signed tree head here, in the browser.
import { html, nothing } from 'lit-html'
import { getJson } from './api.ts'
import { show } from './app.ts'
import { verifyEntryProof, type ProofInput, type ProofReport } from './verify.ts'

type Entry = { index: number; received: string; event: { id: string; type: string; time: string; outcome: string; action: string; component: string; resource?: string; reason?: string; actor: { kind: string; id?: string; ip?: string; clientId?: string } } }
type Search = { entries: Entry[]; scanned: number; next: number | null; treeSize: number }

const filters: Record<string, string> = { type: '', actor: '', outcome: '', from: '', to: '' }
let result: Search | undefined
let error = ''

function query(before?: number): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(filters)) {
    if (!v) continue
    params.set(k, k === 'from' || k === 'to' ? new Date(v).toISOString() : v)
  }
  if (before !== undefined) params.set('before', String(before))
  return params.toString()
}

async function search(before?: number): Promise<void> {
  try {
    const page = await getJson<Search>(`/console/api/audit/events?${query(before)}`)
    result = before === undefined || !result ? page : { ...page, entries: [...result.entries, ...page.entries] }
    error = ''
  } catch (err) {
    error = (err as Error).message
  }
  view()
}

const actorText = (a: Entry['event']['actor']) => [a.kind, a.id ?? a.clientId, a.ip].filter(Boolean).join(' · ')

function view(): void {
  const onSubmit = (e: Event) => {
    e.preventDefault()
    const form = new FormData(e.target as HTMLFormElement)
    for (const key of Object.keys(filters)) filters[key] = String(form.get(key) ?? '').trim()
    result = undefined
    void search()
  }
  const field = (name: string, label: string, type = 'text') => html`
    <div class="field"><label for=${`f-${name}`}>${label}</label><input id=${`f-${name}`} name=${name} type=${type} .value=${filters[name]!}></div>`
  show('audit', html`
    <h1 tabindex="-1">Audit log</h1>
    <form class="filters" role="search" aria-label="Filter the audit log" @submit=${onSubmit}>
      ${field('type', 'Event type (e.g. login.succeeded)')}
      ${field('actor', 'Actor (user id, client, IP)')}
      <div class="field"><label for="f-outcome">Outcome</label>
        <select id="f-outcome" name="outcome" .value=${filters.outcome!}>
          <option value="">any</option><option value="success">success</option><option value="failure">failure</option><option value="denied">denied</option><option value="error">error</option>
        </select></div>
      ${field('from', 'From', 'datetime-local')}
      ${field('to', 'To', 'datetime-local')}
      <div class="field"><button type="submit">Search</button></div>
    </form>
    ${error ? html`<p class="banner failure" role="alert">${error}</p>` : nothing}
    ${result ? html`
      <p class="summary" role="status">${result.entries.length} entries shown · ${result.scanned} scanned of ${result.treeSize} in the log</p>
      <div class="scroll"><table>
        <thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Actor</th><th scope="col">Outcome</th><th scope="col">Resource</th></tr></thead>
        <tbody>${result.entries.map((e) => html`<tr>
          <td><a href=${`#/audit/${e.index}`} aria-label=${`Entry ${e.index}: ${e.event.type}`}>${e.index}</a></td>
          <td>${new Date(e.event.time).toLocaleString()}</td>
          <td class="mono">${e.event.type}</td>
          <td>${actorText(e.event.actor)}</td>
          <td><span class=${`outcome ${e.event.outcome}`}>${e.event.outcome}</span></td>
          <td class="mono">${e.event.resource ?? ''}</td></tr>`)}</tbody>
      </table></div>
      ${result.next !== null ? html`<button @click=${() => void search(result!.next!)}>Older entries</button>` : nothing}` : html`<p>Loading…</p>`}`)
}

export async function auditPage(): Promise<void> {
  view()
  if (!result) await search()
}

function check(ok: boolean, label: string, detail: string) {
  return html`<li class=${ok ? 'pass' : 'fail'}><span class="mark" aria-hidden="true">${ok ? '✓' : '✗'}</span> <strong>${ok ? 'Pass' : 'Fail'}:</strong> ${label} <span class="mono small">${detail}</span></li>`
}

function reportView(data: ProofInput, report: ProofReport) {
  const head = data.proof.treeHead
  return html`
    <section aria-labelledby="proof-title">
      <h2 id="proof-title">Inclusion proof, checked in your browser</h2>
      <p class=${`verdict ${report.verified ? 'pass' : 'fail'}`} data-testid="proof-verdict" role="status">
        ${report.verified ? 'Verified: this entry is in the signed log, unchanged.' : 'NOT verified: this entry does not match the signed log.'}</p>
      <ul class="checks">
        ${check(report.leaf.ok, 'leaf hash computed here from the entry shown matches the log\'s', report.leaf.computed)}
        ${check(report.inclusion.ok, `${report.inclusion.steps} proof hashes lead to the signed root of a tree of ${head.treeSize}`, head.rootHash)}
        ${check(report.signature.ok, 'Ed25519 signature over the tree head (RFC 6962 TreeHeadSignature)', head.signature.slice(0, 24) + '…')}
        ${check(report.signature.keyIdOk, 'signing key id = SHA-256 of the key\'s SPKI', report.signature.keyId)}
      </ul>
      <p class="muted">Signed ${new Date(head.timestamp).toLocaleString()}. Compare the key id with the audit key on the operator's machine (<code>bulwark audit verify</code>) to trust it beyond this console.</p>
    </section>`
}

export async function auditEntryPage(index: number): Promise<void> {
  show('audit', html`<h1 tabindex="-1">Audit entry ${index}</h1><p>Loading…</p>`)
  let data: ProofInput
  try {
    data = await getJson<ProofInput>(`/console/api/audit/entries/${index}`)
  } catch (err) {
    show('audit', html`<h1 tabindex="-1">Audit entry ${index}</h1><p class="banner failure" role="alert">${(err as Error).message}</p><p><a href="#/audit">Back to the log</a></p>`)
    return
  }
  const report = await verifyEntryProof(data)
  const e = data.entry as Entry
  show('audit', html`
    <h1 tabindex="-1">Audit entry ${index}</h1>
    <p><a href="#/audit">Back to the log</a></p>
    <dl class="facts">
      <dt>Type</dt><dd class="mono">${e.event.type}</dd>
      <dt>Time</dt><dd>${new Date(e.event.time).toLocaleString()}</dd>
      <dt>Outcome</dt><dd>${e.event.outcome}${e.event.reason ? ` (${e.event.reason})` : ''}</dd>
      <dt>Actor</dt><dd>${actorText(e.event.actor)}</dd>
      <dt>Component</dt><dd>${e.event.component}</dd>
    </dl>
    ${reportView(data, report)}
    <h2>Entry as logged</h2>
    <pre class="json" tabindex="0" aria-label="The entry as JSON">${JSON.stringify(data.entry, null, 2)}</pre>`)
}
