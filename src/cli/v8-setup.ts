// Imported first by the CLI entry: V8 settings must be in place before the rest of ftcp's code
// runs (src/util/v8-tuning.ts says which and why).
import { applyV8Tuning } from '../util/v8-tuning.js';

try {
  applyV8Tuning();
} catch (err) {
  process.stderr.write(`ftcp: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
