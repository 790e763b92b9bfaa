/**
 * The metering service's public face, for what runs it or checks it from outside (the test
 * stack, the examples test, benchmarks): start the service, the window arithmetic its billing windows
 * follow, and its tenants projection.
 */
export { type Metering, type MeteringOptions, startMetering } from './metering.js';
export { METERING_SCHEMA, meteringTenantsProjection } from './tenants/projection.js';
export { type UsageWindow, windowOf, windowsOf } from './windows/windowMath.js';
