import { expect, it } from 'vitest';
import * as framing from './framing';
import * as root from './index';

it('the framing entry point exports the same framer, header and error objects as the root', () => {
  expect(framing.MessageFramer).toBe(root.MessageFramer);
  expect(framing.ProtocolError).toBe(root.ProtocolError);
  expect(framing.decodeHeader).toBe(root.decodeHeader);
  expect(framing.HEADER_SIZE).toBe(16);
  expect(framing.Errno.EINVAL).toBe(22);
});
