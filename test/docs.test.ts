// Keeps the docs from drifting away from the tests they cite as evidence.
// docs/*.md cite a test as a code span `FILE › TITLE` (a title inside a
// describe/suite is `FILE › SUITE › TITLE`); `› TITLE` alone continues the
// file of the previous citation on the same line. Code spans with backticks
// inside use the double-backtick form. FILE is a test file's path with
// `test/` and `.test.ts` left out, shortened from the left to any unique tail:
// `gateway.attacks`, `identity/lockout`, `e2e/shop`. Test titles are read from
// the source (test/it/describe/suite and t.test calls) with the TypeScript
// parser; a template title built from a table matches when every substituted
// piece is a literal written in that test file, so a cited case that no table
// row produces still fails.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import ts from 'typescript'

const ROOT = resolve(import.meta.dirname, '..')
const SEP = ' › '
const TEST_CALLEES = new Set(['test', 'it', 'describe', 'suite'])

type Title = readonly (string | null)[] // literal pieces; null = a `${…}` substitution
type TestFile = { path: string; key: string; titles: Title[]; literals: Set<string> }
type Citation = { doc: string; line: number; span: string; file: string; title: string }

function testFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) out.push(...testFiles(path))
    else if (entry.endsWith('.test.ts')) out.push(path)
  }
  return out
}

function titleOf(node: ts.Expression): Title | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return [node.text]
  if (ts.isTemplateExpression(node)) {
    const parts: (string | null)[] = [node.head.text]
    for (const span of node.templateSpans) parts.push(null, span.literal.text)
    return parts
  }
  return undefined
}

function calleeIsTest(callee: ts.Expression): boolean {
  if (ts.isIdentifier(callee)) return TEST_CALLEES.has(callee.text)
  if (!ts.isPropertyAccessExpression(callee)) return false
  // test.skip / describe.only, and subtests: t.test(…)
  if (ts.isIdentifier(callee.expression) && TEST_CALLEES.has(callee.expression.text)) return true
  return callee.name.text === 'test'
}

function parseTestFile(path: string, text = readFileSync(path, 'utf8')): TestFile {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  const titles: Title[] = []
  const literals = new Set<string>()
  const visit = (node: ts.Node, prefix: Title): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isNumericLiteral(node)) literals.add(node.text)
    let inner = prefix
    if (ts.isCallExpression(node) && calleeIsTest(node.expression) && node.arguments.length > 0) {
      const own = titleOf(node.arguments[0]!)
      if (own) {
        inner = prefix.length === 0 ? own : [...prefix.slice(0, -1), `${prefix.at(-1)}${SEP}${own[0]}`, ...own.slice(1)]
        titles.push(inner)
      }
    }
    ts.forEachChild(node, (child) => visit(child, inner))
  }
  visit(source, [])
  const key = relative(ROOT, path).split('/').filter((segment) => segment !== 'test').join('/').replace(/\.test\.ts$/, '')
  return { path: relative(ROOT, path), key, titles, literals }
}

/** Does `title` match `pattern`, each substitution being a literal of the file (or its JSON form)? */
function matches(pattern: Title, title: string, literals: Set<string>): boolean {
  const step = (index: number, at: number): boolean => {
    if (index === pattern.length) return at === title.length
    const piece = pattern[index]
    if (piece !== null) return title.startsWith(piece!, at) && step(index + 1, at + piece!.length)
    for (let end = at + 1; end <= title.length; end++) {
      const value = title.slice(at, end)
      if ((literals.has(value) || isJsonOfLiteral(value, literals)) && step(index + 1, end)) return true
    }
    return false
  }
  return step(0, 0)
}

function isJsonOfLiteral(value: string, literals: Set<string>): boolean {
  if (!value.startsWith('"')) return false
  try { return literals.has(JSON.parse(value)) } catch { return false }
}

/** CommonMark code spans of one line: a run of N backticks up to the next run of exactly N. */
function codeSpans(line: string): string[] {
  const spans: string[] = []
  const runs = [...line.matchAll(/`+/g)]
  for (let i = 0; i < runs.length; i++) {
    const open = runs[i]!
    const close = runs.slice(i + 1).findIndex((run) => run[0].length === open[0].length)
    if (close < 0) continue
    const end = runs[i + 1 + close]!
    let body = line.slice(open.index + open[0].length, end.index)
    if (body.length > 2 && body.startsWith(' ') && body.endsWith(' ')) body = body.slice(1, -1)
    spans.push(body)
    i += 1 + close
  }
  return spans
}

function citationsIn(doc: string): Citation[] {
  const out: Citation[] = []
  readFileSync(join(ROOT, doc), 'utf8').split('\n').forEach((text, index) => {
    let file = ''
    for (const span of codeSpans(text)) {
      if (!span.includes('›')) continue
      const at = span.indexOf('›')
      const head = span.slice(0, at).trim()
      const title = span.slice(at + 1).trimStart()
      if (head !== '') file = head
      out.push({ doc, line: index + 1, span, file, title })
    }
  })
  return out
}

function resolveFile(shorthand: string, files: TestFile[]): TestFile | string {
  const key = shorthand.replace(/\.test\.ts$/, '').split('/').filter((segment) => segment !== 'test').join('/')
  const found = files.filter((file) => file.key === key || file.key.endsWith(`/${key}`))
  if (found.length === 1) return found[0]!
  if (found.length === 0) return `names no test file`
  return `is ambiguous: ${found.map((file) => file.path).join(', ')}`
}

const FILES = testFiles(ROOT).map((path) => parseTestFile(path))
const DOCS = readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)

test('the title parser reads literal, template, nested and subtest titles, and matches table cases only', () => {
  const sample = parseTestFile(join(ROOT, 'test/sample.test.ts'), [
    "describe('outer', () => { it('inner', () => {}) })",
    "for (const [name, code] of [['alg none', 'BW_X']]) test(`refuses ${name} with ${code}`, () => {})",
    "test('parent', async (t) => { await t.test('child', () => {}) })",
  ].join('\n'))
  const defined = (title: string) => sample.titles.some((pattern) => matches(pattern, title, sample.literals))
  for (const title of ['outer', `outer${SEP}inner`, 'refuses alg none with BW_X', 'parent', `parent${SEP}child`]) assert.ok(defined(title), title)
  for (const title of ['inner', 'refuses alg two with BW_X', 'refuses alg none with BW_Y', 'child']) assert.ok(!defined(title), title)
  assert.deepEqual(codeSpans('a `x › y`; `› z` and `` `q` › r `` end'), ['x › y', '› z', '`q` › r'])
})

test('every test title cited in docs/*.md is defined by that test file', () => {
  assert.ok(FILES.length > 50, 'the test files were found')
  const problems: string[] = []
  let count = 0
  for (const doc of DOCS) {
    for (const citation of citationsIn(doc)) {
      count++
      const where = `${citation.doc}:${citation.line}: \`${citation.span}\``
      if (citation.file === '') { problems.push(`${where}: a continuation with no file before it on the line`); continue }
      const file = resolveFile(citation.file, FILES)
      if (typeof file === 'string') { problems.push(`${where}: \`${citation.file}\` ${file}`); continue }
      if (!file.titles.some((title) => matches(title, citation.title, file.literals))) {
        problems.push(`${where}: no test in ${file.path} has this title`)
      }
    }
  }
  assert.ok(count > 100, `the citations were found (${count})`)
  assert.deepEqual(problems, [], `${problems.length} cited test title(s) do not exist:\n${problems.join('\n')}`)
})
