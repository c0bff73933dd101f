// Echo servers for the round-trip benchmark, in their own process: a plain net.Server that echoes
// bytes, and a vfio-user channel server that answers every command with an empty reply.
import { createServer } from 'node:net';
import { listen } from '../src/index';

const [netPath, channelPath] = process.argv.slice(2) as [string, string];

const netServer = createServer((socket) => socket.on('data', (d) => socket.write(d)));
netServer.listen(netPath, () => {
  const listener = listen(channelPath);
  listener.on('channel', (channel) => {
    channel.onRequest((req) => {
      for (const fd of req.takeFds()) fd.close();
      return {};
    });
  });
  process.stdout.write('ready\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
