export * from './checkpoints.js';
export * from './commandConsumer.js';
export * from './handlerMap.js';
export * from './projectionRunner.js';
export * from './setAppliers.js';
