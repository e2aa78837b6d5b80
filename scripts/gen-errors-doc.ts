// Writes docs/errors.md from the error registry (src/errors.ts). A test fails when it is stale.
import { writeFileSync } from 'node:fs';
import { errorsMarkdown } from '../src/errors-doc.ts';

writeFileSync(new URL('../docs/errors.md', import.meta.url), errorsMarkdown());
