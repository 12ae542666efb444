/** What every command shares: the history path, spec loading, output, times, and exit codes. */
import { loadSpec } from '../spec/load.js';
import type { LoadedSpec } from '../spec/types.js';
import { engines } from './engines.js';

export { engines };
export * from './basics.js';

/** Loads the spec or throws a SpecError whose message lists every problem. */
export async function load(file: string, opts: { secrets?: boolean } = {}): Promise<LoadedSpec> {
  return loadSpec(file, await engines(), opts);
}
