#!/usr/bin/env node
/**
 * The entry point: the one place that names the engines (agents/) and hands them to the framework
 * (src/). They are loaded only when the command needs them.
 */
import { main } from '../src/cli/main.js';

await main(process.argv, async () => (await import('../agents/index.js')).engines);
