/** The records of the standard Twenty objects in the caller's workspace, under `/api/tenant`. */
export { recordRoutes } from './routes.js';
