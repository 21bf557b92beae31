// Static rules of the Dockerfile (no container engine here: CI builds the image).
// What we can check without building: stages, user, secrets, dependencies, entry.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..')

type Stage = { name: string; from: string; lines: Array<{ op: string; args: string }> }

/** Instructions per stage, continuation lines joined, comments dropped. */
function stagesOf(text: string): Stage[] {
  const stages: Stage[] = []
  const joined = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  for (const line of joined) {
    const [op, ...rest] = line.split(/\s+/)
    const args = rest.join(' ')
    if (op!.toUpperCase() === 'FROM') {
      const [image, as, name] = rest
      stages.push({ name: as?.toUpperCase() === 'AS' ? name! : String(stages.length), from: image!, lines: [] })
    } else {
      stages.at(-1)!.lines.push({ op: op!.toUpperCase(), args })
    }
  }
  return stages
}

function dockerfileProblems(text: string): string[] {
  const problems: string[] = []
  const stages = stagesOf(text)
  if (stages.length < 2) problems.push('not multi-stage')
  const final = stages.at(-1)!
  if (!/^(gcr\.io\/distroless\/nodejs24|node:24[-.\w]*slim)/.test(final.from)) problems.push(`final base \`${final.from}\` is not an official Node 24 slim/distroless image`)
  const users = final.lines.filter((l) => l.op === 'USER')
  const user = users.at(-1)?.args ?? ''
  const ids = user.split(':')
  if (ids.length > 2 || !ids.every((id) => /^\d+$/.test(id))) problems.push(`final USER \`${user}\` is not numeric`)
  else if (ids.some((id) => Number(id) === 0)) problems.push('final USER is root')
  if (final.lines.some((l) => l.op === 'RUN')) problems.push('the final stage runs commands (it should need no shell)')
  for (const stage of stages) {
    for (const l of stage.lines.filter((x) => x.op === 'ENV' || x.op === 'ARG')) {
      if (/(SECRET|PASSWORD|TOKEN|CREDENTIAL|PRIVATE|_KEY\b|DATABASE_URL|REDIS_URL)/i.test(l.args)) problems.push(`${stage.name}: ${l.op} \`${l.args}\` looks like a credential`)
    }
  }
  // The final stage's files come from a stage that installed production dependencies only.
  const sources = final.lines.filter((l) => l.op === 'COPY').map((l) => /--from=(\S+)/.exec(l.args)?.[1]).filter(Boolean)
  if (sources.length === 0) problems.push('the final stage copies nothing from a build stage')
  for (const source of sources) {
    const stage = stages.find((s) => s.name === source)
    const installs = stage?.lines.filter((l) => l.op === 'RUN' && /\bnpm ci\b/.test(l.args)) ?? []
    if (installs.length === 0 || !installs.every((l) => /--omit=dev\b/.test(l.args))) problems.push(`stage \`${source}\` does not install with \`npm ci --omit=dev\``)
  }
  const entry = final.lines.find((l) => l.op === 'ENTRYPOINT')?.args ?? ''
  if (!entry.startsWith('[') || !/"run"\]$/.test(entry)) problems.push('ENTRYPOINT is not the exec form of `bulwark run`')
  return problems
}

test('the Dockerfile is multi-stage, runs as a numeric non-root user, carries no credentials and ships production dependencies only', () => {
  assert.deepEqual(dockerfileProblems(readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8')), [])
})

test('the Dockerfile rules catch a root user, a secret in ENV, dev dependencies and a single stage', () => {
  const good = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8')
  assert.match(dockerfileProblems(good.replace('USER 65532:65532', 'USER root')).join(), /not numeric/)
  assert.match(dockerfileProblems(good.replace('USER 65532:65532', 'USER 0:0')).join(), /root/)
  assert.match(dockerfileProblems(good.replace('ENV NODE_ENV', 'ENV BULWARK_DB_PASSWORD=x NODE_ENV')).join(), /credential/)
  assert.match(dockerfileProblems(good.replace('npm ci --omit=dev', 'npm ci')).join(), /--omit=dev/)
  assert.match(dockerfileProblems('FROM node:24-slim\nUSER 1000\nENTRYPOINT ["node", "run"]\n').join(), /multi-stage/)
})

test('.dockerignore keeps dependencies, the git history and any Bulwark home out of the build context', () => {
  const lines = readFileSync(resolve(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim())
  for (const entry of ['**/node_modules', '.git', '.bulwark', '**/.bulwark']) assert.ok(lines.includes(entry), entry)
})
