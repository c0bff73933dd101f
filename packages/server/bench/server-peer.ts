// The server side of the benchmark, in its own process: a vfio-user endpoint with the test device,
// and a bare transport echo server that answers every command with a fixed 20-byte payload.
import { listen } from '@vfu/transport';
import { VfioUserServer } from '../src/index';
import { testTree } from '../test/support/device';

const [serverPath, echoPath] = process.argv.slice(2) as [string, string];
const tree = testTree();
const server = new VfioUserServer({ id: 'bench', socketPath: serverPath, tree });
tree.deviceAdd({ driver: 'vfu-test', bus: 'bench' });
await server.start();
const echo = listen(echoPath);
const reply = { payload: new Uint8Array(20) };
echo.on('channel', (channel) => channel.onRequest(() => reply));
process.stdout.write('ready\n');
process.stdin.on('end', async () => {
  echo.close();
  await server.close();
  process.exit(0);
});
process.stdin.resume();
