/**
 * A work queue keyed by target, after client-go's: an item is never processed twice at once, an
 * item added several times before it runs runs once, an item added while running runs again
 * afterwards, and at most `concurrency` items run at a time.
 */
export class WorkQueue {
  private readonly due = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly ready: string[] = [];
  private readonly readySet = new Set<string>();
  private readonly active = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private stopped = false;

  constructor(
    private concurrency: number,
    private readonly worker: (key: string) => Promise<void>,
  ) {}

  setConcurrency(n: number): void {
    this.concurrency = n;
    this.pump();
  }

  /** Schedules `key` after `delayMs` (0: now). An earlier schedule wins over a later one. */
  add(key: string, delayMs = 0): void {
    if (this.stopped) return;
    if (delayMs <= 0) {
      this.clearTimer(key);
      this.makeReady(key);
      return;
    }
    const at = Date.now() + delayMs;
    const cur = this.due.get(key);
    if (this.readySet.has(key) || (cur !== undefined && cur.at <= at)) return;
    this.clearTimer(key);
    const timer = setTimeout(() => {
      this.due.delete(key);
      this.makeReady(key);
    }, delayMs);
    timer.unref();
    this.due.set(key, { at, timer });
  }

  /** Forgets a key's schedule (a target removed from the file); a running pass finishes. */
  remove(key: string): void {
    this.clearTimer(key);
    this.dirty.delete(key);
    if (this.readySet.delete(key)) this.ready.splice(this.ready.indexOf(key), 1);
  }

  /** When a key is next due (epoch ms), if scheduled. */
  dueAt(key: string): number | undefined {
    return this.readySet.has(key) || this.active.has(key) ? Date.now() : this.due.get(key)?.at;
  }

  /** Items waiting to run now (queue depth) and running. */
  get depth(): { ready: number; running: number; scheduled: number } {
    return { ready: this.ready.length, running: this.active.size, scheduled: this.due.size };
  }

  /** Stops scheduling and waits for running items to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const k of [...this.due.keys()]) this.clearTimer(k);
    this.ready.length = 0;
    this.readySet.clear();
    await Promise.allSettled([...this.active.values()]);
  }

  private clearTimer(key: string): void {
    const d = this.due.get(key);
    if (d !== undefined) {
      clearTimeout(d.timer);
      this.due.delete(key);
    }
  }

  private makeReady(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    // Running now supersedes a later schedule: the pass reschedules itself when it ends.
    this.clearTimer(key);
    if (!this.readySet.has(key)) {
      this.readySet.add(key);
      this.ready.push(key);
    }
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.active.size < this.concurrency && this.ready.length > 0) {
      const key = this.ready.shift() as string;
      this.readySet.delete(key);
      const run = (async () => {
        try {
          await this.worker(key);
        } catch {
          // The worker records its own failures; the queue only keeps going.
        }
      })().finally(() => {
        this.active.delete(key);
        if (this.dirty.delete(key)) this.makeReady(key);
        this.pump();
      });
      this.active.set(key, run);
    }
  }
}
