export { provisioningStatusPath, registrationPath, registrationRoutes } from './routes.js';
