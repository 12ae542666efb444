/**
 * What a pass must remember across restarts of the daemon: one JSON value per key (a cluster's
 * topology: where each member's data lives, while a member is down). Never secrets: the values are
 * what engines choose to keep, and the history file is read by anyone who may run `setpoint status`.
 */
import type { HistoryFile } from './file.js';

/** Stores `value` under `key` (replacing what was there). */
export function remember(h: HistoryFile, key: string, value: unknown, time = Date.now()): void {
  h.stmt(
    'INSERT INTO memory (key, time, value) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET time = excluded.time, value = excluded.value',
  ).run(key, time, JSON.stringify(value));
}

/** The value stored under `key`, or undefined (never stored, or not JSON any more). */
export function recall(h: HistoryFile, key: string): unknown {
  const row = h.stmt('SELECT value FROM memory WHERE key = ?').get(key) as { value: string } | undefined;
  if (row === undefined) return undefined;
  try {
    return JSON.parse(row.value) as unknown;
  } catch {
    return undefined;
  }
}
