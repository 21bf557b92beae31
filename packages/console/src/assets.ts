// The browser code: TypeScript modules and lit-html bundled by esbuild in
// memory when the console starts (about 100 ms), so what is served is always
// built from the sources beside it, needs no install hook, and works on a
// read-only root filesystem. No CDN, nothing third-party fetched at run time.
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

export type Asset = { body: Buffer; type: string; etag: string }

const UI = fileURLToPath(new URL('./ui/', import.meta.url))

export async function buildAssets(): Promise<Map<string, Asset>> {
  const result = await build({
    entryPoints: [`${UI}app.ts`], bundle: true, format: 'esm', target: ['chrome120', 'firefox120'], minify: true,
    write: false, legalComments: 'none', logLevel: 'silent', sourcemap: false, platform: 'browser',
  })
  const asset = (body: Buffer, type: string): Asset => ({ body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` })
  const assets = new Map<string, Asset>()
  assets.set('app.js', asset(Buffer.from(result.outputFiles[0]!.contents), 'text/javascript; charset=utf-8'))
  assets.set('app.css', asset(readFileSync(`${UI}app.css`), 'text/css; charset=utf-8'))
  return assets
}
