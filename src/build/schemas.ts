// The JSON Schemas lading publishes in schemas/, generated from the zod schemas that also
// validate the files (one source of truth). `npm run gen:schemas` writes them; a test fails when
// the committed copies are stale.
import { z } from 'zod';
import { FamilyLockSchema } from './lock/schema.js';
import { BuildPlanSchema, BuildRecordSchema } from './plan/schema.js';
import { BuildSummarySchema } from './builder/summary.js';
import { WrittenFamilySchema, WrittenOverrideSchema } from './config/written.js';

/** File name in schemas/ -> schema. */
const SCHEMAS: Record<string, { schema: z.ZodType; io: 'input' | 'output' }> = {
  'lading.schema.json': { schema: WrittenFamilySchema, io: 'input' },
  'lading-override.schema.json': { schema: WrittenOverrideSchema, io: 'input' },
  'lading-lock.schema.json': { schema: FamilyLockSchema, io: 'output' },
  'build-plan.schema.json': { schema: BuildPlanSchema, io: 'output' },
  'build-record.schema.json': { schema: BuildRecordSchema, io: 'output' },
  'build-summary.schema.json': { schema: BuildSummarySchema, io: 'output' },
};

/** The text of every published JSON Schema (draft 2020-12), by file name in schemas/. */
export function jsonSchemaFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, { schema, io }] of Object.entries(SCHEMAS)) {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' });
    out[name] = `${JSON.stringify(json, null, 2)}\n`;
  }
  return out;
}
