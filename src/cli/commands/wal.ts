import { ElacsymError } from '../../errors.js';
import type { GlobalOptions } from '../output.js';

export async function inspect(_a: string[], _o: Record<string, unknown>, _g: GlobalOptions): Promise<number> {
  throw new ElacsymError('USAGE', 'not implemented yet');
}
export async function replay(_a: string[], _o: Record<string, unknown>, _g: GlobalOptions): Promise<number> {
  throw new ElacsymError('USAGE', 'not implemented yet');
}
