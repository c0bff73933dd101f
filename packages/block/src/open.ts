import type { BlockBackend } from './backend';
import type { BlockdevOptions } from './blockdev-options';
import { FileBackend } from './drivers/file';
import { NbdBackend } from './drivers/nbd/nbd';
import { NullCoBackend } from './drivers/null-co';
import { BlockError } from './errors';

/**
 * Opens the backend `options` describe (validated by {@link parseBlockdevOptions}). Rejects with
 * an open-failed (or invalid-option, not-supported) BlockError naming the node.
 */
export async function openBlockdev(options: BlockdevOptions): Promise<BlockBackend> {
  const common = {
    ...(options['read-only'] === undefined ? {} : { readOnly: options['read-only'] }),
    ...(options['queue-depth'] === undefined ? {} : { queueDepth: options['queue-depth'] }),
  };
  try {
    switch (options.driver) {
      case 'file':
        return await FileBackend.open({
          ...common,
          filename: options.filename,
          ...(options.cache?.direct === undefined ? {} : { direct: options.cache.direct }),
          ...(options.cache?.['no-flush'] === undefined ? {} : { noFlush: options.cache['no-flush'] }),
          ...(options.discard === undefined ? {} : { discard: options.discard }),
        });
      case 'null-co':
        return new NullCoBackend({
          ...common,
          ...(options.size === undefined ? {} : { size: options.size }),
          ...(options['read-zeroes'] === undefined ? {} : { readZeroes: options['read-zeroes'] }),
          ...(options['latency-ns'] === undefined ? {} : { latencyNs: options['latency-ns'] }),
        });
      case 'nbd':
        return await NbdBackend.open({
          ...common,
          server: options.server,
          ...(options.export === undefined ? {} : { export: options.export }),
          ...(options['open-timeout'] === undefined ? {} : { openTimeout: options['open-timeout'] }),
          ...(options['reconnect-delay'] === undefined ? {} : { reconnectDelay: options['reconnect-delay'] }),
          ...(options.discard === undefined ? {} : { discard: options.discard }),
        });
    }
  } catch (e) {
    if (e instanceof BlockError && e.context.nodeName === undefined) {
      throw new BlockError(e.code, `node '${options['node-name']}': ${e.message}`, {
        ...e.context,
        nodeName: options['node-name'],
        cause: e.context.cause ?? e,
      });
    }
    throw e;
  }
}
