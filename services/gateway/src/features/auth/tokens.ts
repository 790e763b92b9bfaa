import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { InvalidAccessToken } from '../../problems.js';
import { SIGNING_ALG, type SigningKeyRing } from './keys.js';

/** `aud` of access tokens: the tenant-facing API of this system. */
export const ACCESS_TOKEN_AUDIENCE = 'ttm-tenant-api';

export interface AccessTokenSubject {
  userId: string;
  tenantId: string;
}

export interface AccessTokenClaims extends AccessTokenSubject {
  /** `jti`. */
  tokenId: string;
  /** `exp`, in seconds since the epoch. */
  expiresAt: number;
}

export interface IssuedAccessToken {
  token: string;
  /** Seconds until it expires, for `expires_in`. */
  expiresIn: number;
}

export interface AccessTokenOptions {
  /** `JWT_ISSUER`. */
  issuer: string;
  /** `ACCESS_TOKEN_TTL`. */
  ttlMs: number;
  /** Verified tokens remembered (see `verify`). Default 10,000; 0 turns the cache off. */
  verifiedCacheSize?: number;
}

const defaultVerifiedCacheSize = 10_000;

/**
 * Access tokens: ES256 JWTs with `sub` (user), `tid` (tenant), `iss`, `aud`, `iat`, `exp`,
 * `jti`, and the signing key's `kid` in the header, verifiable by anyone holding the JWKS.
 */
export class AccessTokens {
  /** Token -> its claims and signing key, for tokens whose signature verified; oldest first. */
  private readonly verified = new Map<string, { claims: AccessTokenClaims; kid: string }>();

  constructor(
    private readonly keys: SigningKeyRing,
    private readonly options: AccessTokenOptions,
  ) {}

  get ttlSeconds(): number {
    return Math.max(1, Math.floor(this.options.ttlMs / 1_000));
  }

  async issue(subject: AccessTokenSubject): Promise<IssuedAccessToken> {
    const { kid, key } = this.keys.signingKey();
    const now = Math.floor(Date.now() / 1_000);
    const token = await new SignJWT({ tid: subject.tenantId })
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'JWT' })
      .setSubject(subject.userId)
      .setIssuer(this.options.issuer)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + this.ttlSeconds)
      .setJti(randomUUID())
      .sign(key);
    return { token, expiresIn: this.ttlSeconds };
  }

  /**
   * The claims of a valid token; anything else throws the `invalid-access-token` problem.
   *
   * A token whose signature verified is remembered until it expires: a signed token cannot
   * change, so what can make it invalid later is only its expiry or its key no longer being
   * accepted, both checked on every hit. The ES256 check (≈ 0.1 ms of CPU) is otherwise the
   * largest cost of a tenant request. Only verified tokens enter, so garbage cannot fill it.
   */
  async verify(token: string): Promise<AccessTokenClaims> {
    const hit = this.verified.get(token);
    if (hit) {
      if (hit.claims.expiresAt > Date.now() / 1_000 && this.keys.acceptsKid(hit.kid)) return hit.claims;
      this.verified.delete(token);
    }
    const verified = await this.verifySignature(token);
    const capacity = this.options.verifiedCacheSize ?? defaultVerifiedCacheSize;
    if (capacity > 0) {
      if (this.verified.size >= capacity) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, verified);
    }
    return verified.claims;
  }

  private async verifySignature(token: string): Promise<{ claims: AccessTokenClaims; kid: string }> {
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    let kid: string | undefined;
    try {
      ({
        payload,
        protectedHeader: { kid },
      } = await jwtVerify(
        token,
        async (header) => {
          const key = await this.keys.verificationKey(header.kid);
          if (!key) throw new UnknownSigningKey();
          return key;
        },
        {
          algorithms: [SIGNING_ALG],
          issuer: this.options.issuer,
          audience: ACCESS_TOKEN_AUDIENCE,
          requiredClaims: ['sub', 'tid', 'jti', 'iat', 'exp'],
        },
      ));
    } catch (error) {
      throw new InvalidAccessToken(reasonOf(error));
    }
    const { sub, tid, jti, exp } = payload;
    if (
      typeof sub !== 'string' ||
      typeof tid !== 'string' ||
      typeof jti !== 'string' ||
      typeof exp !== 'number' ||
      kid === undefined
    ) {
      throw new InvalidAccessToken('its claims are not the ones this service issues');
    }
    return { claims: { userId: sub, tenantId: tid, tokenId: jti, expiresAt: exp }, kid };
  }
}

class UnknownSigningKey extends Error {}

function reasonOf(error: unknown): string {
  if (error instanceof UnknownSigningKey) return 'it is signed by a key this service does not accept (log in again)';
  if (error instanceof errors.JWTExpired) return 'it has expired (refresh it or log in again)';
  if (error instanceof errors.JWTClaimValidationFailed) return `its "${error.claim}" claim is not accepted`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (error instanceof errors.JOSEAlgNotAllowed) return `it must be signed with ${SIGNING_ALG}`;
  return 'it is not a well-formed JWT';
}
