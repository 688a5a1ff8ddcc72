// Writes the OpenAPI document the running service serves at GET /docs/json to openapi/openapi.json.
// Run with `npm run openapi` (it builds first); test/http/openapi.test.ts fails when the file drifts from the code.
import { writeFile } from 'node:fs/promises';
import { buildApp } from '../dist/app.js';
import { loadConfig } from '../dist/config.js';

const app = await buildApp({ ...loadConfig({}), workers: 1 }, { logger: false });
await app.ready();
const document = app.swagger();
await writeFile(new URL('../openapi/openapi.json', import.meta.url), `${JSON.stringify(document, null, 2)}\n`);
await app.close();
process.stdout.write('wrote openapi/openapi.json\n');
