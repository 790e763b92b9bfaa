/**
 * `npm run drift`: compare every workspace schema of every configured cluster (REGIONS) with
 * the reference schema of the version its data source records. Prints one line per drifted
 * tenant and exits 1 if any drifted (2 if a cluster could not be checked); `--json` for tools.
 */
import { checkFleetDrift } from '@ttm/data-plane';
import { catalogEnv, commonEnv, createCatalog, loadConfig } from '@ttm/service-kit';

const json = process.argv.includes('--json');
try {
  const config = loadConfig(commonEnv.extend(catalogEnv), process.env);
  const started = performance.now();
  const reports = await checkFleetDrift(createCatalog(config));
  const seconds = (performance.now() - started) / 1000;
  const drifted = reports.flatMap((r) => r.drifted.map((d) => ({ region: r.region, cluster: r.cluster, ...d })));
  const checked = reports.reduce((n, r) => n + r.checked, 0);
  if (json) {
    console.log(JSON.stringify({ checked, seconds, drifted }, null, 2));
  } else {
    for (const d of drifted) {
      console.log(`${d.problem}\t${d.workspaceId}\t${d.region}/${d.cluster}\t${d.schema}\tversion ${d.version}`);
    }
    console.log(`drift: ${drifted.length} of ${checked} tenants drifted (${seconds.toFixed(1)} s)`);
  }
  process.exit(drifted.length > 0 ? 1 : 0);
} catch (error) {
  console.error(`drift: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
}
