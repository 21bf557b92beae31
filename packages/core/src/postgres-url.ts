// PostgreSQL connection URLs without leaking their password: parsing, a
// description safe for logs, errors and `bulwark status` (host, port,
// database, user — never the password), and putting a password from a file
// into a URL that has none. Imports no driver, so the CLI can use it.

export type PostgresTarget = { host: string; port: number; database: string; user: string }

const SCHEMES = new Set(['postgres:', 'postgresql:'])
/** Query parameters that would override what the store sets per connection (search_path). */
const REFUSED_PARAMS = ['options']

function parse(url: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    // The URL itself may carry the password: never echo it.
    throw new TypeError('the PostgreSQL URL is not a valid URL')
  }
  if (!SCHEMES.has(parsed.protocol)) throw new TypeError(`the PostgreSQL URL must start with postgres:// (got \`${parsed.protocol}\`)`)
  for (const name of REFUSED_PARAMS) {
    if (parsed.searchParams.has(name)) throw new TypeError(`the PostgreSQL URL must not set \`${name}\`: the store sets each component's search_path itself`)
  }
  return parsed
}

/** Throws a TypeError (naming no secret) when `url` is not a usable postgres:// URL. */
export function checkPostgresUrl(url: string): void {
  parse(url)
}

/** True when the URL carries a password. */
export function postgresUrlHasPassword(url: string): boolean {
  return parse(url).password !== ''
}

/** Host, port, database and user of a URL: what may be shown anywhere. */
export function describePostgresUrl(url: string): PostgresTarget {
  const parsed = parse(url)
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''))
  const user = decodeURIComponent(parsed.username)
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || parsed.searchParams.get('host') || 'localhost',
    port: parsed.port ? Number(parsed.port) : 5432,
    database: database || user || 'postgres',
    user,
  }
}

/** `host:port/database`, for messages. */
export function postgresLabel(url: string): string {
  const t = describePostgresUrl(url)
  return `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}/${t.database}`
}

/** The URL with `password` set (percent-encoded), unless the URL already has one. */
export function withPostgresPassword(url: string, password: string): string {
  const parsed = parse(url)
  if (parsed.password !== '') return url
  parsed.password = encodeURIComponent(password)
  return parsed.toString()
}

/** The password of a URL (decoded), or '' — for scrubbing it out of messages. */
export function postgresPassword(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password)
  } catch {
    return ''
  }
}
