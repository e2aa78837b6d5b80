/** Counted nouns in messages: "1 file", "2 files", never "file(s)". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
