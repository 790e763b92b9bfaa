/** Tenant API keys: the store (verified from memory, revoked everywhere at once) and `/api/tenant/api-keys`. */
export { API_KEY_PREFIX, ApiKeys, parseApiKey } from './apiKeys.js';
export { apiKeyRoutes } from './routes.js';
