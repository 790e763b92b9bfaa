export * from './envelope.js';
export * from './message.js';
export * from './registry.js';
export * from './tenant/commands.js';
export * from './tenant/events.js';
export * from './tenant/fields.js';
export * from './topology.js';
