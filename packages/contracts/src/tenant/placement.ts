import type { Placement } from './fields.js';

/** Both placements are given and name the same schema of the same database. Pure. */
export function samePlacement(a: Placement | undefined, b: Placement | undefined): boolean {
  return (
    !!a &&
    !!b &&
    a.region === b.region &&
    a.cluster === b.cluster &&
    a.kind === b.kind &&
    a.database === b.database &&
    a.schema === b.schema
  );
}
