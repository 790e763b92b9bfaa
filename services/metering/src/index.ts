/**
 * The metering service's public face, for what runs it or checks it from outside (the test
 * stack, the examples test): start the service, and the window arithmetic its billing windows follow.
 */
export { type Metering, type MeteringOptions, startMetering } from './metering.js';
export { type UsageWindow, windowOf, windowsOf } from './windows/windowMath.js';
