// `bulwark secrets`: the operator's view of the vault's KV store, over mTLS
// with the operator certificate. Values may come from argv (KEY=VALUE, as the
// contract allows), a file (KEY=@file) or stdin (KEY=-) to keep them out of
// argv and shell history. Values are printed only by `get`.
import { readFileSync } from 'node:fs'
import { parseArgs, intFlag, UsageError } from '../args.ts'
import { CliError, type CliContext } from '../context.ts'

export const usage = `bulwark secrets <command> [--json]
  put PATH KEY=VALUE…  [--cas N]   write a new version (KEY=@FILE reads the value from FILE,
                                   KEY=- from stdin; one trailing newline is dropped. Prefer these:
                                   KEY=VALUE leaves the value in argv and shell history)
  get PATH [--version N] [--field KEY]   print a version (latest by default)
  list PREFIX                      names under PREFIX (folders end in /)
  delete PATH                      soft-delete the latest version
  undelete PATH --versions N[,N…]  bring soft-deleted versions back
  destroy PATH --versions N[,N…]   erase versions for good
  metadata PATH                    versions, who wrote them and when
  rotate-kek                       new key-encryption key (old data keys are rewrapped lazily)
  rewrap                           rewrap every data key and transit key under the current KEK
Exit codes: 0 success, 1 failure (not found, refused), 2 bad usage.`

const KEY = /^[A-Za-z0-9_.-]{1,256}$/

export type SecretsIo = { readStdin(): Promise<string> }

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

const dropNewline = (value: string) => value.replace(/\r?\n$/, '')
const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/')

function needPath(positionals: string[], what = 'PATH'): string {
  const path = positionals[1]
  if (!path) throw new UsageError(`${positionals[0]}: ${what} is required`)
  return path
}

async function parsePairs(pairs: string[], io: SecretsIo): Promise<Record<string, string>> {
  if (pairs.length === 0) throw new UsageError('put: at least one KEY=VALUE is required')
  const data: Record<string, string> = {}
  let stdinUsed = false
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    const key = eq === -1 ? pair : pair.slice(0, eq)
    if (eq === -1 || !KEY.test(key)) throw new UsageError(`put: \`${key.slice(0, 64)}\` is not KEY=VALUE (keys: letters, digits, _ . -)`)
    if (key in data) throw new UsageError(`put: key \`${key}\` given twice`)
    const raw = pair.slice(eq + 1)
    if (raw === '-') {
      if (stdinUsed) throw new UsageError('put: only one value can come from stdin')
      stdinUsed = true
      data[key] = dropNewline(await io.readStdin())
    } else if (raw.startsWith('@')) {
      try {
        data[key] = dropNewline(readFileSync(raw.slice(1), 'utf8'))
      } catch {
        throw new UsageError(`put: cannot read \`${raw.slice(1)}\` for key \`${key}\``)
      }
    } else {
      data[key] = raw
    }
  }
  return data
}

export async function run(args: string[], ctx: CliContext, io: SecretsIo = { readStdin: readProcessStdin }): Promise<number> {
  const { positionals, flags } = parseArgs(args, { json: 'boolean', version: 'string', cas: 'string', field: 'string', versions: 'string' })
  const json = ctx.json || flags.json === true
  const command = positionals[0]
  const print = (value: unknown, text: string) => ctx.out(json ? JSON.stringify(value) : text)
  switch (command) {
    case 'put': {
      const path = needPath(positionals)
      const cas = intFlag(flags, 'cas', 0, 2 ** 31)
      const data = await parsePairs(positionals.slice(2), io)
      const res = await ctx.callOk('vault', 'PUT', `/v1/kv/data/${encodePath(path)}`, { data, ...(cas === undefined ? {} : { cas }) })
      const body = res.body as { version: number }
      print(body, `wrote ${path} version ${body.version}`)
      return 0
    }
    case 'get': {
      const path = needPath(positionals)
      const version = intFlag(flags, 'version', 1, 2 ** 31)
      const res = await ctx.callOk('vault', 'GET', `/v1/kv/data/${encodePath(path)}${version ? `?version=${version}` : ''}`)
      const body = res.body as { version: number; data: Record<string, unknown>; createdAt: string; createdBy: string }
      const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v))
      if (typeof flags.field === 'string') {
        if (!(flags.field in body.data)) { ctx.err(`secrets get: \`${path}\` has no key \`${flags.field}\``); return 1 }
        print({ [flags.field]: body.data[flags.field] }, show(body.data[flags.field]))
        return 0
      }
      print(body, [`# ${path} version ${body.version} (${body.createdAt} by ${body.createdBy})`,
        ...Object.entries(body.data).map(([k, v]) => `${k}=${show(v)}`)].join('\n'))
      return 0
    }
    case 'list': {
      const prefix = positionals[1] ?? ''
      const res = await ctx.call('vault', 'GET', `/v1/kv/list/${encodePath(prefix)}`)
      if (res.status === 404) { print({ prefix, keys: [] }, `nothing under \`${prefix || '/'}\``); return 1 }
      if (res.status !== 200) throw new CliError(`vault: ${res.status}: ${(res.body as { detail?: string } | undefined)?.detail ?? 'request failed'}`)
      const body = res.body as { keys: string[] }
      print(body, body.keys.join('\n'))
      return 0
    }
    case 'delete': {
      const path = needPath(positionals)
      const body = (await ctx.callOk('vault', 'DELETE', `/v1/kv/data/${encodePath(path)}`)).body as { deleted: number[] }
      print(body, `deleted ${path} version ${body.deleted.join(', ')}`)
      return 0
    }
    case 'undelete':
    case 'destroy': {
      const path = needPath(positionals)
      const list = typeof flags.versions === 'string' ? flags.versions.split(',').map((v) => Number(v.trim())) : []
      if (list.length === 0 || !list.every((v) => Number.isSafeInteger(v) && v > 0)) throw new UsageError(`${command}: --versions N[,N…] is required`)
      const body = (await ctx.callOk('vault', 'POST', `/v1/kv/${command}/${encodePath(path)}`, { versions: list })).body as Record<string, number[]>
      const done = body[command === 'undelete' ? 'undeleted' : 'destroyed'] ?? []
      print(body, `${command === 'undelete' ? 'undeleted' : 'destroyed'} ${path} version ${done.join(', ')}`)
      return 0
    }
    case 'metadata': {
      const path = needPath(positionals)
      const body = (await ctx.callOk('vault', 'GET', `/v1/kv/metadata/${encodePath(path)}`)).body as { currentVersion: number; versions: Array<Record<string, unknown>> }
      print(body, [`${path}: current version ${body.currentVersion}`, ...body.versions.map((v) =>
        `  v${v.version} ${v.createdAt} by ${v.createdBy}${v.destroyed ? ' destroyed' : v.deletedAt ? ` deleted ${v.deletedAt}` : ''}`)].join('\n'))
      return 0
    }
    case 'rotate-kek': {
      const body = (await ctx.callOk('vault', 'POST', '/v1/sys/rotate-kek')).body as { kekVersion: number }
      print(body, `key-encryption key is now version ${body.kekVersion}`)
      return 0
    }
    case 'rewrap': {
      const body = (await ctx.callOk('vault', 'POST', '/v1/sys/rewrap')).body as { kekVersion: number; secrets: { rewrapped: number; failed: number }; transitKeyVersions: number; failedTransitKeys?: string[] }
      const badKeys = body.failedTransitKeys ?? []
      print(body, `rewrapped ${body.secrets.rewrapped} secret versions and ${body.transitKeyVersions} transit key versions under KEK ${body.kekVersion}` +
        (body.secrets.failed > 0 ? `; ${body.secrets.failed} secret versions failed authentication` : '') +
        (badKeys.length > 0 ? `; transit keys that failed authentication: ${badKeys.join(', ')}` : ''))
      return body.secrets.failed > 0 || badKeys.length > 0 ? 1 : 0
    }
    default:
      throw new UsageError(command ? `unknown subcommand \`${command}\`` : 'a subcommand is required')
  }
}
