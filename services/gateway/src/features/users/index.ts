/** The users of the caller's workspace (invite, list, remove), under `/api/tenant/users`. */
export { userRoutes } from './routes.js';
