import { EcsError, ecsErrorCodes } from './errors.js';

/**
 * Splits a command string into argv exactly like Python's `shlex.split(command)` (POSIX mode, no comments),
 * which is what the reference uses for container-override commands (spec §1.7, §2.4 D.8).
 *
 * - Space, tab, CR and LF separate words (Python's `shlex.whitespace`); `'…'` is literal; inside `"…"` a backslash escapes only `"` and `\`.
 * - Outside quotes a backslash escapes any character.
 * - Quoted empty strings are kept as empty words (`a ''` → `['a', '']`).
 *
 * @remarks The kernel does not export a shlex `splitCommand` yet, so the ECS launcher carries this one.
 * @throws `ECS_COMMAND_INVALID` on an unclosed quote or a trailing backslash (Python's `ValueError`s).
 * @internal
 */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false; // a word has started, possibly empty through quotes
  let quote: '"' | "'" | null = null;
  let escaping = false;

  for (const ch of command) {
    if (escaping) {
      // In double quotes only `"` and `\` are escapable; anything else keeps its backslash.
      if (quote === '"' && ch !== '"' && ch !== '\\') word += '\\';
      word += ch;
      escaping = false;
      continue;
    }
    if (quote === "'") {
      if (ch === "'") quote = null;
      else word += ch;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === '\\') escaping = true;
      else word += ch;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (ch === '\\') {
      escaping = true;
      inWord = true;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote !== null) {
    throw new EcsError(
      ecsErrorCodes.COMMAND_INVALID,
      `The flow run command has no closing quotation (${quote}): ${JSON.stringify(command)}. Fix the quoting of the \`command\` job variable.`,
    );
  }
  if (escaping) {
    throw new EcsError(
      ecsErrorCodes.COMMAND_INVALID,
      `The flow run command ends with a backslash that escapes nothing: ${JSON.stringify(command)}. Remove it or escape it as \\\\.`,
    );
  }
  if (inWord) words.push(word);
  return words;
}
