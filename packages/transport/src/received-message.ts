import { commandName, type FramedMessage, type MessageHeader } from '@vfu/protocol';
import { closeFdsQuietly, OwnedFd } from '@vfu/sys';

/**
 * A received message. `payload` is a view onto a buffer allocated for this message alone, so it
 * stays valid as long as you keep it.
 *
 * fd ownership: the fds in `fds` belong to the channel until you call `takeFds()`.
 * - A request given to a handler: fds not taken by the time the handler settles are closed.
 * - A reply returned by `request()`: the fds belong to the caller from then on (at most the
 *   `acceptFds` the request allowed); use `takeFds()` to get owning objects, or close them.
 */
export interface ChannelMessage extends FramedMessage {
  /** Takes ownership of the received fds (idempotent: later calls return an empty array). */
  takeFds(): OwnedFd[];
}

/** A {@link ChannelMessage} that can release the fds nobody took. */
export class ReceivedMessage implements ChannelMessage {
  readonly header: MessageHeader;
  readonly payload: Uint8Array;
  readonly fds: number[];
  #taken = false;

  constructor(message: FramedMessage) {
    this.header = message.header;
    this.payload = message.payload;
    this.fds = message.fds;
  }

  takeFds(): OwnedFd[] {
    if (this.#taken) return [];
    this.#taken = true;
    return OwnedFd.adoptAll(this.fds);
  }

  /** fds still held (not taken). */
  get heldFds(): number {
    return this.#taken ? 0 : this.fds.length;
  }

  /** Closes fds nobody took. */
  closeUntaken(): void {
    if (this.#taken) return;
    this.#taken = true;
    closeFdsQuietly(this.fds);
  }
}

/** The spec name of a command, or `command N` for an unknown number. */
export function describeCommand(command: number): string {
  return commandName(command) ?? `command ${command}`;
}
