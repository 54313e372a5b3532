import { ElacsymError } from '../../errors.js';
import type { GlobalOptions } from '../output.js';

export default async function cmd(_a: string[], _o: Record<string, unknown>, _g: GlobalOptions): Promise<number> {
  throw new ElacsymError('USAGE', 'bench is not implemented yet');
}
