export * from './watchKv.js';
