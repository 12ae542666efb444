/** Every engine setpoint knows. The framework takes this list; it never names an engine itself. */
import type { AnyEngine } from '../src/engine.js';
import { mysqlEngine } from './mysql/index.js';
import { postgresEngine } from './postgres/index.js';

export const engines: readonly AnyEngine[] = [mysqlEngine, postgresEngine];
