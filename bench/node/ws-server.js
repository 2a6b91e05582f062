// WebSocket server for bench/ws.sh: one process, one thread, loopback only.
//
//   node ws-server.js PORT echo   # every data message is sent back as it came
//   node ws-server.js PORT sink   # messages are counted and dropped
//
// `GET /stats` on the same port answers the running totals as JSON
// ({"connections", "received", "sent"}), so the bench can set a tool's count of
// messages sent against what the server took in. Prints "listening PORT" when ready.
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const [port, mode] = [Number(process.argv[2]), process.argv[3] || 'echo'];
if (!Number.isInteger(port) || !['echo', 'sink'].includes(mode)) {
  console.error('usage: node ws-server.js PORT echo|sink');
  process.exit(2);
}

const stats = { connections: 0, received: 0, sent: 0 };
const server = http.createServer((req, res) => {
  if (req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
  } else {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('WebSocket only (GET /stats for counts)\n');
  }
});
// No permessage-deflate: the bench measures framing and the event loop, not zlib.
const wss = new WebSocketServer({
  server, perMessageDeflate: false, maxPayload: 1 << 20, skipUTF8Validation: true,
});
wss.on('connection', (ws) => {
  stats.connections++;
  ws.on('error', () => {});
  if (mode === 'echo') {
    ws.on('message', (data, isBinary) => {
      stats.received++;
      ws.send(data, { binary: isBinary });
      stats.sent++;
    });
  } else {
    ws.on('message', () => {
      stats.received++;
    });
  }
});
server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
