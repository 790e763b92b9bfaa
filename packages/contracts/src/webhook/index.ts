export * from './alertmanager.js';
export * from './deliverable.js';
export * from './events.js';
export * from './fields.js';
export * from './queries.js';
