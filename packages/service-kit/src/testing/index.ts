export * from './database.js';
export * from './natsServer.js';
