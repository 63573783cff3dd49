import { join } from 'node:path';
import { buildApp } from './app.ts';
import { loadOrCreateSecrets, seedDemo } from './bootstrap.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { openDatabase } from './platform/db/client.ts';
import { createLogger } from './platform/logger.ts';
import { directoryBannerLines } from './web/landing.ts';

// config → database → services → http → workers; nothing else.
let config: Config;
try {
  config = loadConfig();
} catch (e) {
  // A refused setting is the operator's to fix: one line naming the variable and the rule, no stack trace.
  if (!(e instanceof ConfigError)) throw e;
  console.error(`rampart: configuration refused: ${e.message}`);
  process.exit(1);
}
const logger = createLogger(config.logLevel);
for (const w of config.warnings) {
  logger.warn(w);
  console.error(`WARNING: ${w}`);
}
const workersOnly = process.env.WORKERS_ONLY === '1';
const secrets = loadOrCreateSecrets(config);
const db = await openDatabase({
  url: config.databaseUrl,
  dataDir: config.databaseUrl ? undefined : join(config.dataDir, 'pglite'),
});
const app = await buildApp({ config, db, adminToken: secrets.adminToken, secretsKey: secrets.secretsKey, logger });

let server: Awaited<ReturnType<typeof app.createServer>> | null = null;
if (!workersOnly) {
  server = await app.createServer();
  await server.listen({ port: config.port, host: config.host });
  await app.services.signingKeys.current('pay-webhook'); // generated on first start, then kept
  const demo = config.mode === 'sandbox' ? await seedDemo(app, db, config) : null;
  const lines = [
    `Rampart (${config.mode}) listening on http://${config.host}:${config.port}  (PUBLIC_URL ${config.publicUrl})`,
    `  database        ${
      config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${join(config.dataDir, 'pglite')}`
    }`,
    // The same list as the landing page at / (src/web/landing.ts).
    `  Home            ${config.publicUrl}/`,
    ...directoryBannerLines(config.mode, config.publicUrl),
    `  admin token     ${
      config.adminToken ? 'from ADMIN_TOKEN' : `in ${join(config.dataDir, 'admin-token')}`
    }  (Admin API, Sandbox API)`,
    secrets.adminTokenCreated ? `  admin token     ${secrets.adminToken}  (generated now, shown once)` : '',
    demo ? `  demo accounts   ${demo.path}${demo.seeded ? ' (created now)' : ''}` : '',
    demo?.interrupted
      ? '  demo accounts   INCOMPLETE: the first start stopped while creating them; start again with an empty ' +
        'DATA_DIR (and database) for a complete set'
      : '',
    `  health          ${config.publicUrl}/healthz  ${config.publicUrl}/readyz  ${config.publicUrl}/metrics`,
  ].filter(Boolean);
  console.log(lines.join('\n'));
}
if (config.workers > 0 || workersOnly) app.startWorkers();

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  await server?.close();
  await app.stopWorkers();
  await db.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
