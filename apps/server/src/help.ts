/** `--help`, `-device help` and `-object help` texts. */
import type { DeviceTypeRegistry } from '@vfu/pci';
import { FLAGS } from './args';
import { VFIO_USER_SERVER_TYPE } from './config';

/** The full `--help` text: usage, flags, the shorthand, then every driver with its properties. */
export function helpText(registry: DeviceTypeRegistry, version: string): string {
  const flagLines = FLAGS.map(
    (f) => `  -${f.name}${f.value === undefined ? '' : ` ${f.value}`}\n      ${f.help}`,
  );
  const drivers = registry.list().map((cls) => registry.help(cls.name).trimEnd());
  return [
    `vfu-server ${version}: serve emulated PCI devices to VMs over vfio-user`,
    '',
    'Usage: vfu-server [-object vfio-user-server,id=ID,socket=PATH]... [-device DRIVER,...]... [options]',
    '',
    'Every flag also takes the --flag form, and --flag=VALUE.',
    '',
    ...flagLines,
    '',
    'One device, one socket:   vfu-server -device edu,id=edu0,socket=/run/vfu/edu.sock',
    '  (socket= on a device creates its endpoint, with the first free id s0, s1, ...)',
    'Several endpoints:        vfu-server -object vfio-user-server,id=s0,socket=/run/vfu/a.sock \\',
    '                            -device edu,id=edu0,bus=s0 -monitor /run/vfu/qmp.sock',
    'With nothing to serve, every driver below is served on its own socket in the runtime',
    'directory, with a monitor on qmp.sock there.',
    '',
    "Exit status: 0 after SIGINT, SIGTERM or the monitor's quit; 2 for a usage or configuration",
    'error; 1 when the server cannot start (socket in use...).',
    '',
    'Device drivers (-device DRIVER,help for one):',
    registry
      .help()
      .trimEnd()
      .replace(/^(?=.)/gm, '  '),
    '',
    'Driver properties:',
    ...drivers.map((d) => d.replace(/^(?=.)/gm, '  ')),
    '',
  ].join('\n');
}

/** `-object help`. */
export function objectHelpText(): string {
  return [
    `${VFIO_USER_SERVER_TYPE} options:`,
    '  id=<str>       - endpoint id, also the id of its PCI root bus (bus= of devices)',
    '  socket=<path>  - UNIX socket the endpoint listens on (JSON: {"type":"unix","path":...})',
    '',
  ].join('\n');
}
