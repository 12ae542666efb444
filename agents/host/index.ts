/** Host-level kinds, shared by every engine: facts, the database service, managed files. */
export { facts, type HostFacts } from './facts.js';
export { fileKind, PREVIOUS_SUFFIX, type FileState, type FileWant } from './files.js';
export { HOST_PHASE, restartChange, service } from './services.js';
