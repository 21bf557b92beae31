import { readFileSync } from 'node:fs'
for (const mod of ['fastify','undici','pino','prom-client','ajv','@sinclair/typebox','@bulwark/core','@bulwark/sdk','@cedar-policy/cedar-wasm/nodejs']) await import(mod)
await new Promise(r=>setTimeout(r,500)); globalThis.gc?.()
const s=readFileSync('/proc/self/smaps','utf8'); let heap=0, total=0, anon=0; let name=''
for (const line of s.split('\n')) { const m=/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line); if (m) { name=m[1]; continue } const r=/^Rss:\s+(\d+)/.exec(line); if (r) { total+=+r[1]; if (name==='[heap]') heap+=+r[1] } const a=/^Anonymous:\s+(\d+)/.exec(line); if (a) anon+=+a[1] }
const m=process.memoryUsage()
console.log(`rss ${(total/1024).toFixed(0)} anon ${(anon/1024).toFixed(0)} malloc ${(heap/1024).toFixed(0)} heapTotal ${(m.heapTotal/1048576).toFixed(0)} used ${(m.heapUsed/1048576).toFixed(0)}`)
