// The app behind the sidecar in bench/sidecar: the smallest useful HTTP
// service (Node's http module, one JSON answer), in its own process so its
// CPU is counted apart from the sidecar's. `node app.ts PORT`
import { createServer } from 'node:http'

const body = Buffer.from('{"ok":true}')
const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body))
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.argv[2]), '127.0.0.1', () => process.stdout.write('ready\n'))
