// Writes the JSON Schemas of lading's files into schemas/ (npm run gen:schemas).
// src/build/schemas.test.ts fails when the committed files differ from what this writes.
import { writeFile } from 'node:fs/promises';
import { jsonSchemaFiles } from '../src/build/index.js';

const dir = new URL('../schemas/', import.meta.url);
for (const [name, text] of Object.entries(jsonSchemaFiles())) {
  await writeFile(new URL(name, dir), text);
  console.log(`schemas/${name}`);
}
