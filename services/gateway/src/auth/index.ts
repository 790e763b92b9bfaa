export { decoratePrincipal, requireTenantToken, type TenantGuardDeps, type TenantPrincipal } from './guard.js';
export {
  ensureActiveSigningKey,
  type PublishedKey,
  type RotationResult,
  rotateSigningKey,
  SIGNING_ALG,
  SigningKeyRing,
} from './keys.js';
export { authRoutes, jwksPath } from './routes.js';
export { ACCESS_TOKEN_AUDIENCE, type AccessTokenClaims, AccessTokens } from './tokens.js';
