/**
 * Splitting a command line into a program and its arguments without a shell: words are separated
 * by blanks; '...' keeps everything literally; "..." keeps everything but \" \\ \$ \` (backslash
 * escapes); outside quotes a backslash makes the next character literal. Nothing is expanded
 * ($VAR, *, ~ stay as they are): to use a shell, name it (`sh -c '...'`).
 */

/** Why a command line does not split; `column` is 1-based. */
export class ArgsError extends Error {
  readonly column: number;

  constructor(message: string, column: number) {
    super(message);
    this.name = 'ArgsError';
    this.column = column;
  }
}

export function splitArgs(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new ArgsError('a single quote is not closed', i + 1);
      word += line.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      const open = i;
      i++;
      for (;;) {
        const d = line[i];
        if (d === undefined) throw new ArgsError('a double quote is not closed', open + 1);
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1] as string)) {
          word += line[i + 1];
          i += 2;
          continue;
        }
        word += d;
        i++;
      }
    } else if (c === '\\') {
      const next = line[i + 1];
      if (next === undefined) throw new ArgsError('a backslash ends the command line', i + 1);
      word += next;
      i += 2;
    } else {
      word += c;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** A command line for messages: each word quoted when it needs to be. */
export function showArgs(words: readonly string[]): string {
  return words
    .map((w) => (/^[A-Za-z0-9_./=:,@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}
