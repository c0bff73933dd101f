/**
 * Structure-aware mutation of JSON texts: parse, change one node of the tree (another value of
 * the same or another type, a key added from the vocabulary or removed, an array element
 * duplicated or dropped), serialise. Inputs that are not JSON fall back on byte mutation.
 */
import type { MutationContext } from './engine/mutate';
import type { Rng } from './engine/rng';

/** Names and values worth trying in a JSON document. */
export interface JsonVocabulary {
  keys: readonly string[];
  strings: readonly string[];
}

const NUMBERS = [0, 1, -1, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 0.5, 1e300];

function randomValue(rng: Rng, vocab: JsonVocabulary, depth: number): unknown {
  switch (rng.below(depth > 2 ? 5 : 7)) {
    case 0:
      return rng.pick(vocab.strings);
    case 1:
      return rng.pick(NUMBERS);
    case 2:
      return rng.oneIn(2);
    case 3:
      return null;
    case 4:
      return String(rng.pick(NUMBERS));
    case 5:
      return [randomValue(rng, vocab, depth + 1)];
    default:
      return { [rng.pick(vocab.keys)]: randomValue(rng, vocab, depth + 1) };
  }
}

/** Every container node of the tree with its path depth. */
function containers(
  v: unknown,
  out: (Record<string, unknown> | unknown[])[] = [],
): (Record<string, unknown> | unknown[])[] {
  if (Array.isArray(v)) {
    out.push(v);
    for (const x of v) containers(x, out);
  } else if (typeof v === 'object' && v !== null) {
    out.push(v as Record<string, unknown>);
    for (const x of Object.values(v)) containers(x, out);
  }
  return out;
}

/** One structural change to a parsed JSON value (in place when it is a container). */
export function mutateJsonValue(value: unknown, rng: Rng, vocab: JsonVocabulary): unknown {
  const nodes = containers(value);
  if (nodes.length === 0 || rng.oneIn(16)) return randomValue(rng, vocab, 0);
  const node = rng.pick(nodes);
  if (Array.isArray(node)) {
    const i = rng.below(node.length + 1);
    switch (rng.below(4)) {
      case 0:
        node.splice(i, 0, randomValue(rng, vocab, 1));
        break;
      case 1:
        node.splice(i, 1);
        break;
      case 2:
        if (node.length) node.splice(i, 0, structuredClone(node[Math.min(i, node.length - 1)]));
        break;
      default:
        if (node.length) node[Math.min(i, node.length - 1)] = randomValue(rng, vocab, 1);
    }
    return value;
  }
  const keys = Object.keys(node);
  switch (rng.below(4)) {
    case 0:
      node[rng.pick(vocab.keys)] = randomValue(rng, vocab, 1);
      break;
    case 1:
      if (keys.length) delete node[rng.pick(keys)];
      break;
    case 2:
      if (keys.length) {
        const k = rng.pick(keys);
        const v = node[k];
        node[k] =
          typeof v === 'string' && rng.oneIn(2)
            ? `${v}${rng.pick(vocab.strings)}`
            : randomValue(rng, vocab, 1);
      }
      break;
    default:
      if (keys.length) {
        // Rename a key: the value stays, under another name.
        const k = rng.pick(keys);
        const v = node[k];
        delete node[k];
        node[rng.pick(vocab.keys)] = v;
      }
  }
  return value;
}

/** Mutates a JSON text structurally, or returns undefined when it does not parse. */
export function mutateJsonText(
  input: Uint8Array,
  ctx: MutationContext,
  vocab: JsonVocabulary,
): Uint8Array | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(input));
  } catch {
    return undefined;
  }
  const rounds = 1 + ctx.rng.below(3);
  for (let i = 0; i < rounds; i++) value = mutateJsonValue(value, ctx.rng, vocab);
  return new TextEncoder().encode(JSON.stringify(value) ?? 'null');
}
