/**
 * The order of the mysql engine's changes within one step (lower first): databases before the users
 * whose grants name them, grants after both; drops last, most contained first. Host changes (start a
 * service, write a file, restart) take their places from HOST_PHASE.
 */
import { HOST_PHASE } from '../host/index.js';

export const PHASE = {
  databases: 10,
  roles: 15,
  users: 20,
  grants: 30,
  roleGrants: 35,
  defaultRoles: 36,
  files: HOST_PHASE.files,
  settings: 50,
  restart: HOST_PHASE.restart,
  revokeGrants: 70,
  dropUsers: 80,
  dropDatabases: 90,
} as const;
