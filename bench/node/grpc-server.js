// gRPC server for bench/grpc.sh: bench.Bench/Echo (bench/bench.proto) answered with
// the request's fields, h2c on loopback, one process, one thread (@grpc/grpc-js).
//
//   node grpc-server.js PORT PROTO
//
// Prints "listening PORT" when ready, and on SIGTERM the calls it answered in all
// ("calls N"), which the bench sets against the sum of the clients' counts.
'use strict';
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [port, proto] = [Number(process.argv[2]), process.argv[3]];
if (!Number.isInteger(port) || !proto) {
  console.error('usage: node grpc-server.js PORT PROTO');
  process.exit(2);
}
const def = protoLoader.loadSync(proto, { keepCase: true, defaults: true });
const pkg = grpc.loadPackageDefinition(def).bench;

let calls = 0;
const server = new grpc.Server();
server.addService(pkg.Bench.service, {
  Echo(call, callback) {
    calls++;
    callback(null, { id: call.request.id, payload: call.request.payload });
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) { console.error(`bind 127.0.0.1:${port}: ${err.message}`); process.exit(1); }
  console.log(`listening ${port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => { console.log(`calls ${calls}`); process.exit(0); });
}
