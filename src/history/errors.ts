/**
 * What went wrong with the history file, in one line that names the file and says what to do:
 * permissions, a read-only or full file system, a damaged file. Light (no SQLite import), so every
 * command's error report can use it.
 */
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { userInfo } from 'node:os';
import { SetpointError } from '../errors.js';

let lastPath: string | undefined;

/** Remembers the history file a command opened, so a later SQLite error can name it. */
export function noteHistoryPath(path: string): void {
  lastPath = path;
}

function runningAs(): string {
  try {
    const u = userInfo();
    return `user ${u.username} (uid ${u.uid})`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** SQLite reports a full disk as a generic I/O error when a write comes up short: ask the file system. */
function noSpace(path: string): boolean {
  try {
    const s = statfsSync(dirname(path));
    return s.bavail * s.bsize < 64 * 1024;
  } catch {
    return false;
  }
}

/** True for errors from SQLite or from the file system calls made around it. */
export function isHistoryFault(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_');
}

/** Turns a failure to open, read or write the history file into a SetpointError (exit status 1). */
export function historyError(err: unknown, path = lastPath ?? 'the history file'): SetpointError {
  if (err instanceof SetpointError) return err;
  const e = err as { code?: string; message?: string };
  const code = e.code ?? '';
  const why = e.message ?? String(err);
  const file = `history file ${path}`;
  const elsewhere = 'or pass --db PATH (or set SETPOINT_DB)';
  let message: string;
  if (code === 'EACCES' || code === 'EPERM' || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    message = `${file}: permission denied for ${runningAs()}: make ${dirname(path)} and the file writable by that user, ${elsewhere}`;
  } else if (code === 'EROFS' || code.startsWith('SQLITE_READONLY')) {
    message = `${file} cannot be written (a read-only file, directory or file system): make it writable by ${runningAs()}, ${elsewhere}`;
  } else if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') {
    message = `no space left on the device holding the ${file}: free some space, ${elsewhere} on another disk; nothing was lost`;
  } else if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    message = `${file} is damaged or is not a setpoint history file (${why}): move it aside (mv ${path} ${path}.damaged) and start again for a new history, or restore it from a backup`;
  } else if (code.startsWith('SQLITE_CANTOPEN') || code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
    message = `${file} cannot be opened (${why}): check that ${dirname(path)} exists and is writable by ${runningAs()}, ${elsewhere}`;
  } else if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    message = `${file} stayed locked by another process for 5 s (${why}): try again`;
  } else if (code.startsWith('SQLITE_IOERR') && noSpace(path)) {
    message = `no space left on the device holding the ${file}: free some space, ${elsewhere} on another disk; nothing was lost`;
  } else if (code.startsWith('SQLITE_IOERR')) {
    message = `${file}: the disk refused a read or write (${why}): check the device, ${elsewhere}`;
  } else {
    message = `${file}: ${why}`;
  }
  return new SetpointError('history.unusable', message, { cause: err, exitCode: 1 });
}
