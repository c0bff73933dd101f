/** Every fuzz target, by name. */
import type { FuzzTarget } from '../engine/target';
import type { TargetName } from '../target-names';
import { cliTarget, configTarget } from './app';
import { clientTarget } from './client';
import { codecTarget } from './codec';
import { framerTarget } from './framer';
import { nvmeTarget } from './nvme';
import { qmpTarget } from './qmp';
import { sessionTarget } from './session';

export const TARGETS: Readonly<Record<TargetName, () => FuzzTarget>> = {
  codec: codecTarget,
  framer: framerTarget,
  session: sessionTarget,
  client: clientTarget,
  config: configTarget,
  cli: cliTarget,
  qmp: qmpTarget,
  nvme: nvmeTarget,
};
