import type { GlobalOptions } from '../output.js';
import { runImport } from './import.js';

/** `patch`: NDJSON {"id", "attributes"} lines change attributes of existing documents (see import.ts). */
export default function patch(args: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  return runImport(args, o, g, true);
}
