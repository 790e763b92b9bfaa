export { decoratePrincipal, requireTenantToken, type TenantGuardDeps, type TenantPrincipal } from './guard.js';
export {
  ensureActiveSigningKey,
  type PublishedKey,
  type RotationResult,
  rotateSigningKey,
  SIGNING_ALG,
  SigningKeyRing,
  sealStoredSigningKeys,
} from './keys.js';
export { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordWeaknesses } from './passwordPolicy.js';
export { PasswordHasher } from './passwords.js';
export { RefreshTokens } from './refreshTokens.js';
export { authRoutes, jwksPath } from './routes.js';
export { scheduleSigningKeyRotation, signingKeyRoutes } from './signingKeyRotation.js';
export { ACCESS_TOKEN_AUDIENCE, type AccessTokenClaims, AccessTokens } from './tokens.js';
export { findWorkspaceUser, type WorkspaceUser } from './workspaceUsers.js';
