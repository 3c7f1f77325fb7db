import { describe, expect, it } from 'vitest';
import { DEFAULT_INTERRUPT_BUDGET, interruptBudgetFrom } from '../../src/util/v8-tuning.js';

describe('interruptBudgetFrom', () => {
  it('defaults to the tuned budget when unset or empty', () => {
    expect(interruptBudgetFrom(undefined)).toBe(DEFAULT_INTERRUPT_BUDGET);
    expect(interruptBudgetFrom(' ')).toBe(DEFAULT_INTERRUPT_BUDGET);
  });
  it('keeps V8 default for 0 and takes a whole number otherwise', () => {
    expect(interruptBudgetFrom('0')).toBeUndefined();
    expect(interruptBudgetFrom('16384')).toBe(16384);
  });
  it('rejects what is not a whole number of bytes, saying what to set', () => {
    expect(() => interruptBudgetFrom('8k')).toThrow(/FTCP_V8_INTERRUPT_BUDGET must be a whole number/);
    expect(() => interruptBudgetFrom('-1')).toThrow(/FTCP_V8_INTERRUPT_BUDGET/);
    expect(() => interruptBudgetFrom('1.5')).toThrow(/FTCP_V8_INTERRUPT_BUDGET/);
  });
});
