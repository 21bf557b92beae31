import { readFileSync } from 'node:fs'
const mods = process.env.MODS ? process.env.MODS.split(',') : ['fastify','undici','pino','prom-client','ajv','@sinclair/typebox','@bulwark/core','@bulwark/sdk','@cedar-policy/cedar-wasm/nodejs']
const loaded = {}
for (const mod of mods) loaded[mod] = await import(mod)
if (loaded['@cedar-policy/cedar-wasm/nodejs']) { const c = loaded['@cedar-policy/cedar-wasm/nodejs']; const r = c.isAuthorized({ principal:{type:'U',id:'a'}, action:{type:'Action',id:'r'}, resource:{type:'R',id:'x'}, context:{}, policies:{staticPolicies:'permit(principal,action,resource);'}, entities:[] }); if (process.env.V) console.log(JSON.stringify(r).slice(0,80)) }
await new Promise(r=>setTimeout(r,1500)); globalThis.gc?.()
const s=readFileSync('/proc/self/smaps','utf8'); let heap=0, total=0, anon=0, big=0; let name='', sz=0
for (const line of s.split('\n')) { const m=/^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line); if (m) { name=m[3]; sz=parseInt(m[2],16)-parseInt(m[1],16); continue } const r=/^Rss:\s+(\d+)/.exec(line); if (r) { total+=+r[1]; if (name==='[heap]') heap+=+r[1]; if (!name && sz>=(1<<20) && sz<=(64<<20)) big+=+r[1] } const a=/^Anonymous:\s+(\d+)/.exec(line); if (a) anon+=+a[1] }
const m=process.memoryUsage()
console.log(`rss ${(total/1024).toFixed(0)} anon ${(anon/1024).toFixed(0)} malloc ${(heap/1024).toFixed(0)} arenas+big ${(big/1024).toFixed(0)} heapTotal ${(m.heapTotal/1048576).toFixed(0)} used ${(m.heapUsed/1048576).toFixed(0)}`)
