import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * Generates the tests' Prisma client (Prisma 7, `prisma-client` generator: no query engine binary; the client talks
 * to PostgreSQL through @prisma/adapter-pg). `prisma generate` does not need the schema engine, but the CLI fetches
 * one before any command unless told where one is: PRISMA_SCHEMA_ENGINE_BINARY points it at a stand-in, so nothing is
 * downloaded.
 */
export async function generatePrismaClient(): Promise<void> {
  if (existsSync(`${here}prisma/generated/client.ts`)) return;
  await promisify(execFile)(
    process.execPath,
    [
      fileURLToPath(new URL('../../node_modules/prisma/build/index.js', import.meta.url)),
      'generate',
      `--schema=${here}prisma/schema.prisma`,
    ],
    {
      env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
    },
  );
}
