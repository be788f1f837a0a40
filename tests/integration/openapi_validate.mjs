// openapi_validate.mjs DOC SCHEMA...: validates the OpenAPI document DOC with
// @seriousme/openapi-schema-validator (the official OAS 3.1 JSON Schemas plus
// its checks that every $ref resolves).  Each SCHEMA is a JSON Schema file
// DOC refers to by its $id.  Prints {"valid":..,"version":..,"errors":..}
// and exits 0 when valid.  Run from the repository top (node_modules there);
// tests/integration/test_openapi.py calls it.
import { Validator } from "@seriousme/openapi-schema-validator";

const [doc, ...subs] = process.argv.slice(2);
const v = new Validator();
for (const s of subs) await v.addSpecRef(s);
const res = await v.validate(doc);
console.log(JSON.stringify({ valid: res.valid, version: v.version, errors: res.errors ?? null }));
process.exit(res.valid ? 0 : 1);
