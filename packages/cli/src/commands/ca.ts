// `bulwark ca issue --service NAME --out DIR` and `bulwark ca list`: workload
// certificates by hand (for a service outside the supervisor) and the CA's
// inventory. The key is generated here and never leaves this machine; only
// the CSR goes to the CA, over mTLS with the operator certificate.
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { issueOperatorCertificate } from '@bulwark/ca/material'
import { describeCertificate, serviceSpiffeId, writeFileAtomic, writeSecretFile } from '@bulwark/core/base'
import { createKeyAndCsr, svidFromResponse } from '@bulwark/sdk/svid'
import { intFlag, parseArgs, UsageError } from '../args.ts'
import type { CliContext } from '../context.ts'

export const usage = `bulwark ca issue --service NAME --out DIR [--force] [--json]
  Generates a key locally, has the CA sign an SVID for spiffe://<td>/svc/NAME and
  writes DIR/key.pem (0600), DIR/cert.pem (leaf + intermediate) and DIR/bundle.pem (roots).
bulwark ca list [--service NAME] [--active] [--limit N] [--json]
  The CA's inventory of issued certificates, newest first.
bulwark ca renew-operator [--days N] [--json]
  Re-issues the operator certificate in the home (default 30 days), offline,
  with the intermediate key in the home.`

const SERVICE = /^[a-z][a-z0-9-]{0,31}$/

type CertView = { serial: string; spiffeId: string; kind: string; via: string; notAfter: string; revoked: boolean }

async function issue(args: string[], ctx: CliContext): Promise<number> {
  const { positionals, flags } = parseArgs(args, { service: 'string', out: 'string', force: 'boolean', json: 'boolean' })
  if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\``)
  const service = flags.service
  const out = flags.out
  if (typeof service !== 'string' || !SERVICE.test(service)) throw new UsageError('`--service` must be a service name (lowercase letters, digits, dashes)')
  if (typeof out !== 'string') throw new UsageError('`--out DIR` is required')
  const dir = resolve(out)
  const files = { key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem'), bundle: join(dir, 'bundle.pem') }
  const existing = Object.values(files).filter((f) => existsSync(f))
  if (existing.length > 0 && flags.force !== true) {
    ctx.err(`bulwark ca issue: \`${existing[0]}\` exists; nothing changed (use --force to replace)`)
    return 1
  }
  const spiffeId = serviceSpiffeId(ctx.config().trustDomain, service)
  const material = await createKeyAndCsr({ spiffeId })
  const res = await ctx.callOk('ca', 'POST', '/v1/certs/issue', { service, csr: material.csrPem })
  const svid = svidFromResponse(res.body, spiffeId, material)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  writeSecretFile(files.key, svid.keyPem)
  writeFileAtomic(files.cert, svid.certPem + svid.chainPem, 0o644)
  writeFileAtomic(files.bundle, svid.bundlePem, 0o644)
  const notAfter = new Date(svid.notAfter).toISOString()
  if (ctx.json || flags.json === true) ctx.out(JSON.stringify({ spiffeId, serial: svid.serial, notAfter, files }))
  else ctx.out(`issued ${spiffeId}\n  serial:  ${svid.serial}\n  expires: ${notAfter}\n  key:     ${files.key}\n  cert:    ${files.cert}\n  bundle:  ${files.bundle}`)
  return 0
}

async function list(args: string[], ctx: CliContext): Promise<number> {
  const { positionals, flags } = parseArgs(args, { service: 'string', active: 'boolean', limit: 'string', json: 'boolean' })
  if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\``)
  const query = new URLSearchParams()
  if (flags.service !== undefined) {
    if (typeof flags.service !== 'string' || !SERVICE.test(flags.service)) throw new UsageError('`--service` must be a service name')
    query.set('spiffeId', serviceSpiffeId(ctx.config().trustDomain, flags.service))
  }
  if (flags.active === true) query.set('active', 'true')
  const limit = intFlag(flags, 'limit', 1, 1000)
  if (limit !== undefined) query.set('limit', String(limit))
  const qs = query.size > 0 ? `?${query}` : ''
  const res = await ctx.callOk('ca', 'GET', `/v1/certs${qs}`)
  const certs = (res.body as { certs: CertView[] }).certs
  if (ctx.json || flags.json === true) {
    ctx.out(JSON.stringify({ certs }))
    return 0
  }
  const now = Date.now()
  const rows = certs.map((c) => [c.serial, c.spiffeId, c.kind, c.via, c.notAfter,
    c.revoked ? 'revoked' : Date.parse(c.notAfter) <= now ? 'expired' : 'active'])
  const header = ['SERIAL', 'SPIFFE ID', 'KIND', 'VIA', 'NOT AFTER', 'STATUS']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  for (const row of [header, ...rows]) ctx.out(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd())
  return 0
}

async function renewOperator(args: string[], ctx: CliContext): Promise<number> {
  const { positionals, flags } = parseArgs(args, { days: 'string', json: 'boolean' })
  if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\``)
  const days = intFlag(flags, 'days', 1, 365) ?? 30
  const { trustDomain } = ctx.config()
  await issueOperatorCertificate(ctx.paths, { trustDomain, ttlSeconds: days * 86400 })
  const info = describeCertificate(readFileSync(ctx.paths.operatorCert, 'utf8'))
  const notAfter = new Date(info.notAfter).toISOString()
  if (ctx.json || flags.json === true) ctx.out(JSON.stringify({ serial: info.serial, notAfter, cert: ctx.paths.operatorCert }))
  else ctx.out(`operator certificate renewed\n  serial:  ${info.serial}\n  expires: ${notAfter}`)
  return 0
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = args
  if (sub === 'issue') return await issue(rest, ctx)
  if (sub === 'list') return await list(rest, ctx)
  if (sub === 'renew-operator') return await renewOperator(rest, ctx)
  throw new UsageError(sub ? `unknown subcommand \`${sub}\`` : 'a subcommand is required: issue, list or renew-operator')
}
