// WebSocket load client for bench/ws.sh (the Node peer): N connections, each in a
// closed loop, for a fixed time, on one thread.
//
//   node ws-load.js URL CONNECTIONS SECONDS MESSAGE [echo|fire]
//
// echo: send MESSAGE, wait for the reply, send the next (a message counts when its
// reply arrives). fire: send the next message as soon as the last one has been
// written to the socket (ws's send callback), without waiting for replies; a message
// counts when written. Prints one JSON line: {"messages", "sent", "received",
// "errors", "elapsed_s", "connections"}; exit 1 if no connection opened.
'use strict';
const WebSocket = require('ws');

const [url, conns, secs, message, mode = 'echo'] = process.argv.slice(2);
const n = Number(conns);
const seconds = Number(secs);
if (!url || !(n > 0) || !(seconds > 0) || message === undefined || !['echo', 'fire'].includes(mode)) {
  console.error('usage: node ws-load.js URL CONNECTIONS SECONDS MESSAGE [echo|fire]');
  process.exit(2);
}

let sent = 0, received = 0, completed = 0, errors = 0, opened = 0, open = 0;
let running = false, start = 0;
const sockets = [];

function begin() {
  running = true;
  start = process.hrtime.bigint();
  for (const ws of sockets) (mode === 'echo' ? sendEcho : sendFire)(ws);
  setTimeout(finish, seconds * 1000);
}

function sendEcho(ws) {
  if (!running || ws.readyState !== WebSocket.OPEN) return;
  ws.send(message);
  sent++;
}

function sendFire(ws) {
  if (!running || ws.readyState !== WebSocket.OPEN) return;
  ws.send(message, (err) => {
    if (err) { errors++; return; }
    if (!running) return;
    completed++;
    // setImmediate lets replies and timers in between sends
    setImmediate(sendFire, ws);
  });
  sent++;
}

function finish() {
  running = false;
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({
    messages: completed, sent, received, errors, elapsed_s: elapsed, connections: opened,
  }));
  for (const ws of sockets) ws.terminate();
  process.exit(opened > 0 ? 0 : 1);
}

// connections that have not opened in 10 s: start with those that did
setTimeout(() => {
  if (start !== 0) return;
  if (opened === 0) { console.error('ws-load: no connection opened in 10 s'); process.exit(1); }
  begin();
}, 10000).unref();

for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  sockets.push(ws);
  ws.on('open', () => {
    opened++;
    open++;
    if (open === n) begin();
  });
  ws.on('message', () => {
    received++;
    if (!running) return;
    if (mode === 'echo') {
      completed++;
      sendEcho(ws);
    }
  });
  ws.on('error', () => { errors++; });
  ws.on('close', () => {
    // a connection that never opened: start with the others, or fail if none did
    if (!running && start === 0 && opened + errors >= n) {
      if (opened === 0) { console.error('ws-load: no connection opened'); process.exit(1); }
      begin();
    }
  });
}
