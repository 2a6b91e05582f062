// gRPC closed-loop client for bench/grpc.sh (the Node peer, @grpc/grpc-js): N
// concurrent loops, each calling bench.Bench/Echo and waiting for the reply before
// the next call, over one channel, for a fixed time, on one thread.
//
//   node grpc-load.js TARGET PROTO CONCURRENCY SECONDS ID
//
// Prints one JSON line: {"calls", "ok", "errors", "elapsed_s"}; exit 1 if the first
// call fails.
'use strict';
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [target, proto, conc, secs, id] = process.argv.slice(2);
const n = Number(conc);
const seconds = Number(secs);
if (!target || !proto || !(n > 0) || !(seconds > 0) || id === undefined) {
  console.error('usage: node grpc-load.js TARGET PROTO CONCURRENCY SECONDS ID');
  process.exit(2);
}
const def = protoLoader.loadSync(proto, { keepCase: true, defaults: true });
const Bench = grpc.loadPackageDefinition(def).bench.Bench;
const client = new Bench(target, grpc.credentials.createInsecure());
const request = { id };

let calls = 0, ok = 0, errors = 0, running = false, start = 0, active = 0;

function deadline() { return new Date(Date.now() + 10000); }

function call() {
  if (!running) { if (--active === 0) done(); return; }
  client.Echo(request, { deadline: deadline() }, (err) => {
    calls++;
    if (err) errors++; else ok++;
    call();
  });
}

function done() {
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ calls, ok, errors, elapsed_s: elapsed }));
  client.close();
  process.exit(0);
}

client.Echo(request, { deadline: deadline() }, (err) => {
  if (err) {
    console.error(`grpc-load: first call to ${target} failed: ${err.message}`);
    process.exit(1);
  }
  running = true;
  start = process.hrtime.bigint();
  active = n;
  for (let i = 0; i < n; i++) call();
  setTimeout(() => { running = false; }, seconds * 1000);
});
