// JSON calls to the console's own API. The session cookie goes with them
// (same origin); state changes carry the CSRF token the session handed us.
let csrfToken = ''

export const setCsrf = (token: string) => { csrfToken = token }
export const csrf = () => csrfToken

async function answer<T>(res: Response): Promise<T> {
  if (res.status === 401) {
    location.assign('/console/login')
    throw new Error('signed out')
  }
  const body = await res.json().catch(() => ({})) as { detail?: string }
  if (!res.ok) throw new Error(body.detail ?? `request failed (${res.status})`)
  return body as T
}

export async function getJson<T>(path: string): Promise<T> {
  return answer<T>(await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } }))
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(await fetch(path, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrfToken },
    body: JSON.stringify(body),
  }))
}
