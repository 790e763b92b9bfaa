export * from './commands.js';
export * from './events.js';
export * from './fields.js';
export * from './queries.js';
export * from './samples.js';
