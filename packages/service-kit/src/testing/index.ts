export * from './database.js';
export * from './deciderSpecification.js';
export * from './natsServer.js';
export * from './ports.js';
export * from './projectionBatches.js';
