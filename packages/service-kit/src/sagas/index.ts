export * from './runSaga.js';
