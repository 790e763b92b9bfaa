export * from './decider.js';
export * from './defineAggregate.js';
export * from './eventStore.js';
