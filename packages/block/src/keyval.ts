import { BlockError } from './errors';

/** A parsed keyval string: dotted keys become nested objects, every value a string. */
export interface KeyvalObject {
  [key: string]: string | KeyvalObject;
}

const KEY_SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * Parses a QEMU keyval option string (`driver=file,node-name=d0,cache.direct=on`) as QEMU's
 * `keyval_parse` does: pairs separated by commas, `,,` is a literal comma inside a value, dotted
 * keys build nested objects (`cache.direct=on` is `{ cache: { direct: 'on' } }`), and a key given
 * twice is an error. Values stay strings; the option schema converts them.
 */
export function parseKeyval(text: string): KeyvalObject {
  const root: KeyvalObject = {};
  let i = 0;
  if (text.trim() === '') throw invalid('empty option string', undefined);
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    const comma = text.indexOf(',', i);
    if (eq === -1 || (comma !== -1 && comma < eq)) {
      const key = text.slice(i, comma === -1 ? undefined : comma);
      throw invalid(`Expected '=' after parameter '${key}'`, key);
    }
    const key = text.slice(i, eq);
    let value = '';
    let j = eq + 1;
    for (;;) {
      const next = text.indexOf(',', j);
      if (next === -1) {
        value += text.slice(j);
        j = text.length;
        break;
      }
      value += text.slice(j, next);
      if (text[next + 1] === ',') {
        value += ',';
        j = next + 2;
        continue;
      }
      j = next + 1;
      break;
    }
    setDotted(root, key, value);
    i = j;
  }
  return root;
}

function setDotted(root: KeyvalObject, key: string, value: string): void {
  const parts = key.split('.');
  for (const p of parts) {
    if (!KEY_SEGMENT.test(p)) throw invalid(`Invalid parameter '${key}'`, key);
  }
  let node = root;
  for (const [n, p] of parts.entries()) {
    const last = n === parts.length - 1;
    const existing = node[p];
    if (last) {
      if (existing !== undefined) throw invalid(`Parameter '${key}' given more than once`, key);
      node[p] = value;
    } else if (existing === undefined) {
      const child: KeyvalObject = {};
      node[p] = child;
      node = child;
    } else if (typeof existing === 'string') {
      throw invalid(`Parameter '${parts.slice(0, n + 1).join('.')}' is a value and an object at once`, key);
    } else {
      node = existing;
    }
  }
}

function invalid(message: string, option: string | undefined): BlockError {
  return new BlockError('invalid-option', message, option === undefined ? {} : { option });
}
