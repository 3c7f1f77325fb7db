// The configuration reference (docs/OPERATIONS.md) generated from the config file's key table.
import { CONFIG_KEYS, dottedKey } from './file-keys.js';

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** A Markdown table of every key: name, type, default, flag it stands for, meaning. */
export function configReferenceMarkdown(): string {
  const rows = CONFIG_KEYS.map(
    (k) => `| \`${dottedKey(k)}\` | ${cell(k.type)} | ${cell(k.default)} | \`${k.flag}\` | ${cell(k.doc)} Example: \`${k.example}\` |`,
  );
  return [
    'Keys of `/etc/ftcp/NAME.toml` (`log.X` is key `X` in the `[log]` table). Unknown keys are an error.',
    'A flag given on the command line overrides the key.',
    '',
    '| Key | Type | Default | Flag | Meaning |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
