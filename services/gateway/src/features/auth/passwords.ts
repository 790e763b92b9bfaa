import { randomBytes } from 'node:crypto';
import { argon2id, hash, verify } from 'argon2';

export interface PasswordHashingConfig {
  ARGON2_MEMORY_KIB: number;
  ARGON2_TIME_COST: number;
}

/**
 * argon2id as Twenty stores it in `core."user"."passwordHash"`: the encoded form
 * (`$argon2id$v=19$m=…,t=…,p=1$salt$hash`) carries its own parameters, so hashes made with
 * older settings keep verifying after the settings change.
 */
export class PasswordHasher {
  /** A hash of a random secret, verified against when there is no user, so timing does not tell. */
  private readonly decoy: Promise<string>;

  constructor(private readonly config: PasswordHashingConfig) {
    this.decoy = this.hash(randomBytes(32).toString('base64url'));
    // Kept for later awaits; a failure surfaces there, not as an unhandled rejection now.
    this.decoy.catch(() => undefined);
  }

  hash(password: string): Promise<string> {
    return hash(password, {
      type: argon2id,
      memoryCost: this.config.ARGON2_MEMORY_KIB,
      timeCost: this.config.ARGON2_TIME_COST,
      parallelism: 1,
    });
  }

  verify(encodedHash: string, password: string): Promise<boolean> {
    return verify(encodedHash, password);
  }

  /** Spend the time of one verification and answer false: for unknown emails and missing users. */
  async verifyNothing(password: string): Promise<false> {
    await verify(await this.decoy, password);
    return false;
  }
}
