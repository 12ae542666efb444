/** zod schemas for the engine-agnostic parts of the desired-state file. */
import { z } from 'zod';
import { checkWindow } from '../loop/windows.js';

/** Names of hosts and clusters: they appear in history and on the command line, never in SQL. */
export const objectName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
    'expected a name of letters, digits, ".", "_" or "-" (at most 63, starting with a letter or digit)',
  );

/** `{ env: NAME }` or `{ file: PATH }`. */
export const secretRef = z
  .strictObject({
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
      .optional(),
    file: z
      .string()
      .min(1)
      .refine((p) => p.startsWith('/'), 'expected an absolute path')
      .optional(),
  })
  .refine(
    (r) => (r.env === undefined) !== (r.file === undefined),
    'expected exactly one of { env: NAME } or { file: /path }',
  )
  .transform((r) => (r.env !== undefined ? { env: r.env } : { file: r.file as string }));

const port = z.number().int().min(1).max(65535);

export const sshSchema = z.strictObject({
  port: port.default(22),
  user: z.string().min(1).default('root'),
  privateKeyFile: z.string().min(1),
  knownHostsFile: z.string().min(1).optional(),
  trustOnFirstUse: z.boolean().default(false),
  timeoutSeconds: z.number().positive().max(3600).default(30),
});

export const serviceSchema = z
  .strictObject({
    unit: z
      .string()
      .regex(/^[A-Za-z0-9@._:-]+$/, 'expected a systemd unit name')
      .optional(),
    commands: z
      .strictObject({
        start: z.string().min(1).optional(),
        stop: z.string().min(1).optional(),
        restart: z.string().min(1).optional(),
        reload: z.string().min(1).optional(),
        status: z.string().min(1).optional(),
      })
      .optional(),
  })
  .refine((s) => !(s.unit !== undefined && s.commands !== undefined), 'give either unit or commands, not both');

export const maintenanceWindow = z
  .strictObject({
    cron: z.string().min(1),
    minutes: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60),
    timezone: z.string().min(1).default('UTC'),
  })
  .superRefine((w, ctx) => {
    const problem = checkWindow(w.cron, w.timezone);
    if (problem !== undefined)
      ctx.addIssue({
        code: 'custom',
        message: problem,
        path: [problem.startsWith('unknown time zone') ? 'timezone' : 'cron'],
      });
  });

export const modeSchema = z.enum(['enforce', 'observe']);

export const pruneSchema = z.union([
  z.boolean(),
  z.strictObject({
    databases: z.boolean().optional(),
    users: z.boolean().optional(),
    grants: z.boolean().optional(),
    objects: z.boolean().optional(),
  }),
]);

export const policySchema = z
  .strictObject({
    mode: modeSchema.default('enforce'),
    prune: pruneSchema.default(false),
    resyncSeconds: z.number().min(1).max(86400).default(30),
    destructiveBudget: z.number().int().min(0).default(5),
    concurrency: z.number().int().min(1).max(1000).default(8),
    backoff: z
      .strictObject({
        initialSeconds: z.number().positive().default(1),
        maxSeconds: z.number().positive().default(300),
      })
      .refine((b) => b.initialSeconds <= b.maxSeconds, {
        message: 'initialSeconds must not be more than maxSeconds (the cap)',
        path: ['initialSeconds'],
      })
      .default({ initialSeconds: 1, maxSeconds: 300 }),
    connectTimeoutSeconds: z.number().positive().max(600).default(10),
    statementTimeoutSeconds: z.number().positive().max(86400).default(60),
    maintenanceWindows: z.array(maintenanceWindow).default([]),
    antiFlap: z
      .strictObject({
        repairs: z.number().int().min(1).default(3),
        windowSeconds: z.number().positive().default(600),
        holdSeconds: z.number().positive().default(3600),
      })
      .default({ repairs: 3, windowSeconds: 600, holdSeconds: 3600 }),
    degradedAfterSeconds: z.number().min(0).default(300),
    hostProbeSeconds: z.number().min(0).max(86400).default(60),
    retention: z
      .strictObject({
        keepDays: z.number().positive().default(30),
        schedule: z.string().default('17 3 * * *'),
        timezone: z.string().default('UTC'),
      })
      .superRefine((r, ctx) => {
        const problem = checkWindow(r.schedule, r.timezone);
        if (problem !== undefined)
          ctx.addIssue({
            code: 'custom',
            message: problem,
            path: [problem.startsWith('unknown time zone') ? 'timezone' : 'schedule'],
          });
      })
      .default({ keepDays: 30, schedule: '17 3 * * *', timezone: 'UTC' }),
  })
  .default({
    mode: 'enforce',
    prune: false,
    resyncSeconds: 30,
    destructiveBudget: 5,
    concurrency: 8,
    backoff: { initialSeconds: 1, maxSeconds: 300 },
    connectTimeoutSeconds: 10,
    statementTimeoutSeconds: 60,
    maintenanceWindows: [],
    antiFlap: { repairs: 3, windowSeconds: 600, holdSeconds: 3600 },
    degradedAfterSeconds: 300,
    hostProbeSeconds: 60,
    retention: { keepDays: 30, schedule: '17 3 * * *', timezone: 'UTC' },
  });

/** Keys every cluster has, whatever its engine. */
export const clusterBaseShape = {
  members: z.array(objectName).min(1, 'a cluster needs at least one member'),
  mode: modeSchema.optional(),
  prune: pruneSchema.optional(),
  destructiveBudget: z.number().int().min(0).optional(),
  resyncSeconds: z.number().min(1).max(86400).optional(),
  maintenanceWindows: z.array(maintenanceWindow).optional(),
};

/** Keys every host has, whatever its engines. */
export const hostBaseShape = {
  address: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9.:_-]+$/, 'expected an IP address or a DNS name'),
  ssh: sshSchema.optional(),
  service: serviceSchema.optional(),
};
