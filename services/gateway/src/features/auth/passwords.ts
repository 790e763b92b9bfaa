import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { argon2id, hash, verify } from 'argon2';

export interface PasswordHashingConfig {
  ARGON2_MEMORY_KIB: number;
  ARGON2_TIME_COST: number;
  /** Hashes computed at once (0: one per core). */
  ARGON2_MAX_CONCURRENT?: number;
  /** Longest wait of a hash for its turn, ms. */
  ARGON2_QUEUE_WAIT?: number;
}

/** A hash that could not start within the wait limit: nothing was hashed; try again after `retryAfterSeconds`. */
export class HashingQueueFull extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('too many password hashes are waiting for their turn');
    this.name = 'HashingQueueFull';
  }
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
    this.decoy = this.compute(randomBytes(32).toString('base64url'));
    // Kept for later awaits; a failure surfaces there, not as an unhandled rejection now.
    this.decoy.catch(() => undefined);
  }

  private running = 0;
  private readonly waiting: { start: () => void; timer: NodeJS.Timeout }[] = [];

  /**
   * An argon2id hash of a new password. At most ARGON2_MAX_CONCURRENT run at once; the others
   * wait their turn in arrival order, each at most ARGON2_QUEUE_WAIT, then `HashingQueueFull`
   * (a burst of registrations gets 503 with Retry-After instead of an answer minutes later).
   */
  async hash(password: string): Promise<string> {
    await this.turn();
    try {
      return await this.compute(password);
    } finally {
      this.running--;
      this.waiting.shift()?.start();
    }
  }

  private compute(password: string): Promise<string> {
    return hash(password, {
      type: argon2id,
      memoryCost: this.config.ARGON2_MEMORY_KIB,
      timeCost: this.config.ARGON2_TIME_COST,
      parallelism: 1,
    });
  }

  private turn(): Promise<void> {
    const limit = this.config.ARGON2_MAX_CONCURRENT || availableParallelism();
    if (this.running < limit && this.waiting.length === 0) {
      this.running++;
      return Promise.resolve();
    }
    const waitMs = this.config.ARGON2_QUEUE_WAIT ?? 10_000;
    // 0: no line at all, refused at once while every slot is taken.
    if (waitMs <= 0) return Promise.reject(new HashingQueueFull(1));
    return new Promise((resolve, reject) => {
      const entry = {
        start: () => {
          clearTimeout(entry.timer);
          this.running++;
          resolve();
        },
        timer: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(entry), 1);
          reject(new HashingQueueFull(Math.max(1, Math.ceil(waitMs / 1000))));
        }, waitMs),
      };
      this.waiting.push(entry);
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
