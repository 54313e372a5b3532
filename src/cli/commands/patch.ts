import type { GlobalOptions } from '../output.js';
import { importChecks, runImport } from './import.js';

/** `patch`: NDJSON {"id", "attributes"} lines change attributes of existing documents (see import.ts). */
export default function patch(args: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<number> {
  return runImport(args, o, g, true);
}

/** Checks the options and the input file before anything else (on an object store: before contacting it). */
export function preflight(args: string[], o: Record<string, unknown>, g: GlobalOptions): Promise<unknown> {
  return importChecks(args, o, g, true);
}
