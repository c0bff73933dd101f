import { hex } from '@vfu/errors';
import { parseVmStream, type VmNodeBody, type VmNodeValue } from './stream';

/**
 * A readable listing of any state stream, without its schema: one line per field, subsections
 * indented, long byte strings elided. For logs, `vfu-client` and debugging a refused stream.
 */
export function describeVmStream(data: Uint8Array, maxBytes = 16): string {
  const lines: string[] = [];
  for (const section of parseVmStream(data)) {
    lines.push(`${section.name} v${section.version}`);
    describeBody(section, '  ', lines, maxBytes);
  }
  return lines.join('\n');
}

function describeBody(body: VmNodeBody, indent: string, lines: string[], maxBytes: number): void {
  for (const f of body.fields) lines.push(`${indent}${f.name}: ${describeNode(f.node, maxBytes)}`);
  for (const sub of body.subsections) {
    lines.push(`${indent}[${sub.name} v${sub.version}]`);
    describeBody(sub, `${indent}  `, lines, maxBytes);
  }
}

function describeNode(node: VmNodeValue, maxBytes: number): string {
  switch (node.type) {
    case 'u8':
    case 'u16':
    case 'u32':
    case 'u64':
      return hex(node.value);
    case 'i32':
      return String(node.value);
    case 'bool':
      return String(node.value);
    case 'string':
      return JSON.stringify(node.value);
    case 'bytes': {
      const shown = [...node.value.subarray(0, maxBytes)]
        .map((b) => b.toString(16).padStart(2, '0'))
        .join('');
      return `${node.value.length} bytes ${shown}${node.value.length > maxBytes ? '...' : ''}`;
    }
    case 'array':
      return `[${node.value.map((v) => describeNode(v, maxBytes)).join(', ')}]`;
    case 'struct':
      return `{ ${node.value.map((f) => `${f.name}: ${describeNode(f.node, maxBytes)}`).join(', ')} }`;
  }
}
