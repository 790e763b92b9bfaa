export * from './bareWorkspace.js';
export * from './changeVersion.js';
export * from './drift.js';
export * from './fingerprint.js';
export * from './pace.js';
export * from './workspaceMigrations.js';
