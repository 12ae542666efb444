/** Every engine setpoint knows. The framework takes this list; it never names an engine itself. */
import type { Engine } from '../src/engine.js';
import { mysqlEngine } from './mysql/index.js';

export const engines: readonly Engine<any, any>[] = [mysqlEngine];
