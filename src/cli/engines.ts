/**
 * The engines the CLI drives. The entry point (bin/setpoint.ts) hands in how to load them, so nothing
 * in src/ names an engine; they are loaded only by the commands that need them (status and history
 * start without mysql2, pg, ssh2 and zod).
 */
import type { AnyEngine } from '../engine.js';

let loader: (() => Promise<readonly AnyEngine[]>) | undefined;
let loaded: Promise<readonly AnyEngine[]> | undefined;

/** Sets how the engines are loaded (once, by the entry point). */
export function useEngines(load: () => Promise<readonly AnyEngine[]>): void {
  loader = load;
  loaded = undefined;
}

/** The engines, loaded on first use. */
export function engines(): Promise<readonly AnyEngine[]> {
  if (loader === undefined) throw new Error('no engines: the entry point must call useEngines() first');
  loaded ??= loader();
  return loaded;
}
