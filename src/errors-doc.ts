import { ERRORS } from './errors.ts';

/** The text of docs/errors.md: every code with its exit code, HTTP status and meaning. */
export function errorsMarkdown(): string {
  const rows = Object.entries(ERRORS).map(
    ([code, s]) => `| \`${code}\` | ${s.exit} | ${s.http} | ${s.retryable ? 'yes' : 'no'} | ${s.summary} |`,
  );
  return [
    '# Error codes',
    '',
    'Generated from `src/errors.ts` by `node scripts/gen-errors-doc.ts`; do not edit by hand.',
    '',
    'Every failure carries one of these codes. The CLI prints it after the message',
    '(`error: Cannot open ... [REPO_WRONG_PASSWORD]`) and exits with its exit code; with `--json`',
    'it also prints `{"message_type":"error","code":...,"message":...}`. Exit code 3 means the',
    'command finished but with warnings (for example files that could not be read).',
    '',
    '| code | exit | HTTP | retryable | meaning |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
