// The server side of the C-client benchmark, in its own process: a vfio-user endpoint serving the
// test device, and a bare net.Socket server that frames vfio-user messages and answers each request
// with a fixed reply (the floor any server in Node pays for a round trip).
import { createServer, type Socket } from 'node:net';
import { VfioUserServer } from '../src/index';
import { testTree } from '../test/support/device';

const HEADER = 16;
const REPLY_FLAG = 0x1;
const NO_REPLY_FLAG = 0x10;
const [serverPath, echoPath] = process.argv.slice(2) as [string, string];

const tree = testTree();
const server = new VfioUserServer({ id: 'bench', socketPath: serverPath, tree });
tree.deviceAdd({ driver: 'vfu-test', bus: 'bench' });
await server.start();

function serveEcho(socket: Socket): void {
  let pending = Buffer.alloc(0);
  // REGION_READ-sized reply: header, 16-byte access head, 4 data bytes.
  const reply = Buffer.alloc(HEADER + 20);
  reply.writeUInt32LE(reply.length, 4);
  reply.writeUInt32LE(REPLY_FLAG, 8);
  socket.on('data', (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (pending.length - at >= HEADER) {
      const size = pending.readUInt32LE(at + 4);
      if (pending.length - at < size) break;
      const flags = pending.readUInt32LE(at + 8);
      if ((flags & NO_REPLY_FLAG) === 0) {
        reply.writeUInt16LE(pending.readUInt16LE(at), 0);
        reply.writeUInt16LE(pending.readUInt16LE(at + 2), 2);
        socket.write(reply);
      }
      at += Math.max(size, HEADER);
    }
    pending = pending.subarray(at);
  });
  socket.on('error', () => socket.destroy());
}
const echo = createServer(serveEcho);
await new Promise<void>((resolve) => echo.listen(echoPath, resolve));

process.stdout.write('ready\n');
process.stdin.on('end', async () => {
  echo.close();
  await server.close();
  process.exit(0);
});
process.stdin.resume();
