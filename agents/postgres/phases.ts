/**
 * The order of the postgres engine's changes within one step (lower first): roles and their
 * memberships, then databases, schemas, extensions and privileges inside them, then settings; removals
 * last, from the most contained (privileges) to the least (roles). Host changes take their places from
 * HOST_PHASE.
 */
import { HOST_PHASE } from '../host/index.js';

export const PHASE = {
  roles: 10,
  memberships: 15,
  databases: 20,
  roleSettings: 25,
  schemas: 30,
  extensions: 35,
  privileges: 40,
  defaultPrivileges: 45,
  settings: 50,
  revokePrivileges: 60,
  restart: HOST_PHASE.restart,
  revokeDefaultPrivileges: 62,
  revokeMemberships: 65,
  resetRoleSettings: 66,
  dropExtensions: 70,
  dropSchemas: 75,
  dropDatabases: 80,
  dropRoles: 90,
} as const;
