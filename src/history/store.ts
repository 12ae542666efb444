/**
 * The history file (SQLite via better-sqlite3): what the servers looked like, what drifted, what
 * the loop did about it and with what result, and which version of the file was in force.
 * WAL mode, so the CLI reads while the daemon writes; created 0600; secrets are never written
 * (values pass through JSON.stringify, where Secret and Verifier print placeholders).
 *
 * History puts the parts together: the file (file.ts: open, migrate, statements), the writer
 * (journal.ts), the readers the CLI uses (readers.ts), pauses (pauses.ts) and retention (retention.ts).
 */
import type Database from 'better-sqlite3';
import type { Condition, DriftRecord, TargetKey } from '../status.js';
import { HistoryFile } from './file.js';
import { Journal, type PassRecord } from './journal.js';
import { recall, remember } from './memory.js';
import { closeRequests, pause, pauseState, requestNow, requestsNow, resume, type Pause } from './pauses.js';
import {
  conditionsOf,
  entries,
  latestOfKind,
  latestOfTarget,
  observedAt,
  status,
  type Entry,
  type HistoryFilter,
  type TargetStatus,
} from './readers.js';
import {
  resourceStory,
  resourcesMatching,
  specInForce,
  specVersions,
  targetAt,
  type ResourceStory,
  type SpecVersion,
  type TargetAt,
} from './questions.js';
import { thin } from './retention.js';

export type { EntryKind } from './file.js';
export type { PassRecord } from './journal.js';
export type { Pause } from './pauses.js';
export type { Entry, HistoryFilter, TargetStatus } from './readers.js';
export type { Episode, ResourceStory, SpecVersion, TargetAt } from './questions.js';
export type { DriftRecord, TargetKey, TargetState } from '../status.js';

export class History {
  private readonly journal: Journal;

  private constructor(private readonly file: HistoryFile) {
    this.journal = new Journal(file);
  }

  /** Opens the file; `readonly` never creates or migrates it. Failures are SetpointErrors that name the file and say what to do. */
  static open(path: string, opts: { readonly?: boolean; daemonId?: string } = {}): History {
    return new History(HistoryFile.open(path, opts));
  }

  get db(): Database.Database {
    return this.file.db;
  }

  get path(): string {
    return this.file.path;
  }

  /** Who writes: stamped on every entry (and how interrupted actions are told apart). */
  get daemonId(): string {
    return this.file.daemonId;
  }

  close(): void {
    this.file.close();
  }

  // The writer.
  recordSpec(s: { file: string; version: string; text: string }, time?: number): void {
    this.journal.recordSpec(s, time);
  }
  recordRejectedSpec(file: string, problems: string[], time?: number): void {
    this.journal.recordRejectedSpec(file, problems, time);
  }
  event(summary: string, detail?: unknown, time?: number, about?: TargetKey & { resource?: string }): void {
    this.journal.event(summary, detail, time, about);
  }
  actionStarted(
    t: TargetKey,
    a: { resource: string; summary: string; risk: string; action: string; statements: string[] },
    specVersion: string,
    time?: number,
  ): number {
    return this.journal.actionStarted(t, a, specVersion, time);
  }
  actionEnded(id: number, outcome: 'ok' | 'failed', error?: string, time?: number): void {
    this.journal.actionEnded(id, outcome, error, time);
  }
  actionDiscarded(id: number): void {
    this.journal.actionDiscarded(id);
  }
  /** Runs `fn`'s writes in one transaction (a batch of changes journaled together). */
  together<T>(fn: () => T): T {
    return this.file.db.transaction(fn)();
  }
  markInterrupted(time?: number, own?: boolean): number {
    return this.journal.markInterrupted(time, own);
  }
  commitPass(p: PassRecord): void {
    this.journal.commitPass(p);
  }
  recordDrift(t: TargetKey, drift: DriftRecord[], specVersion: string, time?: number): void {
    this.journal.recordDrift(t, drift, specVersion, time);
  }
  forgetTargets(keep: TargetKey[]): void {
    this.journal.forgetTargets(keep);
  }

  // Retention.
  thin(before: number, window?: number): Promise<number> {
    return thin(this.file, before, window);
  }

  // Pauses.
  pause(target: string, reason: string, by: string, time?: number): void {
    pause(this.file, target, reason, by, time);
  }
  resume(target: string, by: string, time?: number): boolean {
    return resume(this.file, target, by, time);
  }
  pauseState(): { active: Pause[]; resumed: Map<string, number> } {
    return pauseState(this.file);
  }
  /** Asks the daemon to act on a cluster now, outside the maintenance windows (switchover --now). */
  requestNow(cluster: string, by: string): number {
    return requestNow(this.file, cluster, by);
  }
  requestsNow(cluster: string): boolean {
    return requestsNow(this.file, cluster);
  }
  closeRequests(cluster: string, outcome: string): number {
    return closeRequests(this.file, cluster, outcome);
  }

  // What passes remember across restarts.
  remember(key: string, value: unknown, time?: number): void {
    remember(this.file, key, value, time);
  }
  recall(key: string): unknown {
    return recall(this.file, key);
  }

  // The readers.
  status(filter?: { cluster?: string; host?: string }): TargetStatus[] {
    return status(this.file, filter);
  }
  conditionsOf(t: TargetKey): Condition[] {
    return conditionsOf(this.file, t);
  }
  entries(f?: HistoryFilter): Entry[] {
    return entries(this.file, f);
  }
  latestOfKind(kind: string): { cluster: string; host: string; resource: string; time: number; state: unknown }[] {
    return latestOfKind(this.file, kind);
  }
  latestOfTarget(t: TargetKey, kind: string): { resource: string; time: number; state: unknown }[] {
    return latestOfTarget(this.file, t, kind);
  }
  observedAt(t: TargetKey, time: number): Map<string, unknown> {
    return observedAt(this.file, t, time);
  }

  // Questions about the past (setpoint show, setpoint diff).
  targetAt(t: TargetKey, time: number, resource?: string): TargetAt {
    return targetAt(this.file, t, time, resource);
  }
  resourcesMatching(t: TargetKey, text: string): string[] {
    return resourcesMatching(this.file, t, text);
  }
  resourceStory(t: TargetKey, resource: string): ResourceStory {
    return resourceStory(this.file, t, resource);
  }
  specInForce(time: number): { version: string; loadedAt: number } | undefined {
    return specInForce(this.file, time);
  }
  specVersions(prefix?: string): SpecVersion[] {
    return specVersions(this.file, prefix);
  }
}
