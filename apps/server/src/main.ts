/**
 * The composition root: parse the command line, read the config file, validate everything, build
 * the device registry, tree and endpoints, open the monitors, print the endpoint lines and the
 * readiness line, then serve until SIGINT, SIGTERM or the monitor's `quit`.
 */
import { readFileSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { BlockNodeRegistry, parseBlockdevOptions } from '@vfu/block';
import { formatGuestErrorEvent, type HostContext, registerZooDevices } from '@vfu/devices';
import { DeviceTree, DeviceTypeRegistry } from '@vfu/pci';
import { CaptureWriter } from '@vfu/trace/capture';
import { ServerApp } from './app';
import { parseCommandLine } from './args';
import { type CapSettings, resolveCaps } from './caps';
import { type LoadSpec, mergeConfig, type ServerConfig, servesAnything } from './config';
import { parseConfigFile } from './config-file';
import { chooseRuntimeDir, defaultConfig, type RuntimeDir } from './defaults';
import { AppError, errorMessage, exitStatusFor, isAppError } from './errors';
import { helpText, objectHelpText } from './help';
import { loadDriverModules } from './load';
import { type AppLogger, createLogger, type LineSink, PROGRAM } from './logger';
import { QmpMonitor } from './monitor/monitor-server';
import { planServer } from './plan';

/** What `main` talks to: streams, environment and the process's signals. */
export interface MainIo {
  stdout: LineSink;
  stderr: LineSink;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Registers a stop-signal handler; returns its removal. */
  onStopSignal(handler: (signal: string) => void): () => void;
}

/** The program version (from package.json, next to `src/` and `dist/`). */
export function programVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? '0.0.0';
}

/**
 * The registry of every device type the server knows: the zoo, then the types of the driver
 * modules in `loads`, with guest errors going to `logger`.
 */
export async function createRegistry(
  logger: AppLogger,
  loads: readonly LoadSpec[] = [],
  blockNodes: BlockNodeRegistry = new BlockNodeRegistry(),
): Promise<DeviceTypeRegistry> {
  const registry = new DeviceTypeRegistry();
  const host: HostContext = {
    log: {
      guestError: (event) => logger.warn(`guest error: ${formatGuestErrorEvent(event)}`),
      unimplemented: (event) => logger.warn(`unimplemented: ${formatGuestErrorEvent(event)}`),
    },
    // drive=NAME: the -blockdev / blockdev-add node, held by the device until it goes away.
    resolveBlockdev: (nodeName, deviceId) =>
      blockNodes.has(nodeName) ? blockNodes.attach(nodeName, deviceId) : undefined,
    releaseBlockdev: (nodeName, deviceId) => {
      if (blockNodes.has(nodeName)) blockNodes.detach(nodeName, deviceId);
    },
  };
  registerZooDevices(registry, host);
  await loadDriverModules(loads, registry, host);
  return registry;
}

/** Runs the program; resolves with its exit status. */
export async function main(argv: readonly string[], io: MainIo): Promise<number> {
  const version = programVersion();
  const fail = (e: unknown): number => {
    io.stderr.write(`${PROGRAM}: ${errorMessage(e)}\n`);
    if (isAppError(e) && e.code === 'usage')
      io.stderr.write(`Try '${PROGRAM} --help' for more information.\n`);
    return exitStatusFor(e);
  };
  let runtimeDir: RuntimeDir | undefined;
  const removeRuntimeDir = () => {
    if (runtimeDir?.temporary === true) rmSync(runtimeDir.path, { recursive: true, force: true });
  };
  try {
    const cmd = parseCommandLine(argv, io.cwd);
    // Help lists drivers, loaded ones included, so the registry exists before anything else.
    const bootLogger = createLogger(cmd.kind === 'run' ? (cmd.config.logLevel ?? 'info') : 'info', io.stderr);
    switch (cmd.kind) {
      case 'help':
        io.stdout.write(helpText(await createRegistry(bootLogger, cmd.loads), version));
        return 0;
      case 'version':
        io.stdout.write(`${PROGRAM} ${version}\n`);
        return 0;
      case 'object-help':
        io.stdout.write(objectHelpText());
        return 0;
      case 'device-help': {
        const registry = await createRegistry(bootLogger, cmd.loads);
        try {
          io.stdout.write(registry.help(cmd.driver));
        } catch (e) {
          throw new AppError('usage', errorMessage(e), { flag: '-device', cause: e });
        }
        return 0;
      }
      case 'run':
        break;
    }
    let config: ServerConfig = cmd.config;
    if (cmd.configFile !== undefined) {
      const file = resolve(io.cwd, cmd.configFile);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new AppError('config', `cannot read config file ${file}: ${errorMessage(e)}`, { cause: e });
      }
      config = mergeConfig(parseConfigFile(text, cmd.configFile, dirname(file)), config);
    }
    const logger = createLogger(config.logLevel ?? 'info', io.stderr);
    const blockNodes = new BlockNodeRegistry();
    const registry = await createRegistry(logger, config.loads, blockNodes);
    if (!servesAnything(config)) {
      runtimeDir = chooseRuntimeDir(config.runtimeDir, io.env);
      const defaults = defaultConfig(runtimeDir.path);
      if (config.monitors.length > 0) defaults.monitors = [];
      config = mergeConfig(defaults, config);
      logger.info(`nothing to serve given: serving the default set in ${runtimeDir.path}`);
    }
    const plan = planServer(config, { registry, cwd: io.cwd });
    return await serve(
      plan,
      {
        registry,
        blockNodes,
        blockdevs: config.blockdevs,
        logger,
        io,
        trace: config.trace === true,
        requireSealedDmaFds: config.requireSealedDmaFds === true,
        caps: config.caps,
        version,
        config,
      },
      removeRuntimeDir,
    );
  } catch (e) {
    removeRuntimeDir();
    return fail(e);
  }
}

async function serve(
  plan: ReturnType<typeof planServer>,
  ctx: {
    registry: DeviceTypeRegistry;
    blockNodes: BlockNodeRegistry;
    blockdevs: ServerConfig['blockdevs'];
    logger: AppLogger;
    io: MainIo;
    trace: boolean;
    requireSealedDmaFds: boolean;
    caps: CapSettings;
    version: string;
    config: ServerConfig;
  },
  cleanup: () => void,
): Promise<number> {
  const { logger, io } = ctx;
  const capture = openCapture(ctx.config, io.cwd, ctx.version, logger);
  const monitors: QmpMonitor[] = [];
  let requestStop: (reason: string) => void = () => {};
  const stopped = new Promise<string>((r) => {
    requestStop = r;
  });
  const app = new ServerApp({
    tree: new DeviceTree({ registry: ctx.registry }),
    blockNodes: ctx.blockNodes,
    logger,
    announce: io.stdout,
    trace: ctx.trace ? io.stderr : undefined,
    requireSealedDmaFds: ctx.requireSealedDmaFds,
    caps: ctx.caps,
    ...(capture === undefined
      ? {}
      : {
          capture: (endpoint: string, socketPath: string) => capture.endpoint(endpoint, socketPath, 'server'),
        }),
    cwd: io.cwd,
    version: ctx.version,
    // Let the reply to `quit` go out before the monitors close.
    onQuit: () => setImmediate(() => requestStop('quit')),
    onEvent: (event, data) => {
      for (const m of monitors) m.broadcast(event, data);
    },
  });
  app.reserveSocketPaths(plan.monitors.map((m) => m.socketPath));
  const removeSignals = io.onStopSignal((signal) => requestStop(signal));
  const shutdown = async () => {
    for (const m of monitors) await m.close();
    await app.close();
    await ctx.blockNodes
      .closeAll()
      .catch((e: unknown) => logger.warn(`closing block nodes: ${errorMessage(e)}`));
    capture?.close();
    cleanup();
    removeSignals();
  };
  try {
    for (const spec of ctx.blockdevs) {
      try {
        await ctx.blockNodes.add(resolveFilename(parseBlockdevOptions(spec.options), io.cwd));
      } catch (e) {
        throw new AppError('startup-failed', `${spec.source}: ${errorMessage(e)}`, { cause: e });
      }
    }
    await app.apply(plan);
    for (const m of plan.monitors) {
      const monitor = new QmpMonitor({
        socketPath: m.socketPath,
        backend: app,
        logger,
        limits: resolveCaps(ctx.caps).monitor,
      });
      await monitor.start();
      monitors.push(monitor);
      io.stdout.write(`${PROGRAM}: monitor listening on ${m.socketPath}\n`);
    }
  } catch (e) {
    await shutdown();
    throw e;
  }
  io.stdout.write(
    `${PROGRAM}: ready (${app.endpointIds.length} endpoint${app.endpointIds.length === 1 ? '' : 's'}, ${monitors.length} monitor${monitors.length === 1 ? '' : 's'}, pid ${process.pid})\n`,
  );
  const reason = await stopped;
  logger.info(`stopping (${reason})`);
  for (const m of monitors)
    m.broadcast('SHUTDOWN', { guest: false, reason: reason === 'quit' ? 'host-qmp-quit' : 'host-signal' });
  await shutdown();
  logger.info('stopped');
  return 0;
}

/** A file node's relative `filename` resolved against `cwd`, as QEMU opens it from its cwd. */
function resolveFilename<T extends { driver: string }>(options: T, cwd: string): T {
  const o = options as T & { filename?: unknown };
  return o.driver === 'file' && typeof o.filename === 'string'
    ? { ...options, filename: resolve(cwd, o.filename) }
    : options;
}

/** The `--trace-file` capture, or undefined without one; a write failure is logged and ends capturing. */
function openCapture(
  config: ServerConfig,
  cwd: string,
  version: string,
  logger: AppLogger,
): CaptureWriter | undefined {
  if (config.traceFile === undefined) return undefined;
  const path = resolve(cwd, config.traceFile);
  try {
    return CaptureWriter.open(path, {
      maxFileBytes: (config.traceFileSizeMib ?? 64) * 1024 * 1024,
      files: 2,
      application: `${PROGRAM} ${version}`,
      onError: (e) => logger.error(`capture stopped: ${e.message}`),
    });
  } catch (e) {
    throw new AppError('startup-failed', `--trace-file: ${errorMessage(e)}`, { cause: e });
  }
}
