// A card number does not hide behind JSON number syntax: integerDigits reads the integer a literal
// denotes, and only an integer (a zero fraction, an exponent that leaves no fraction) is one.
import { describe, expect, it } from 'vitest';
import { integerDigits } from '../../../gateway/masking/detectors.ts';

describe('integerDigits', () => {
  it.each([
    ['4242424242424242', '4242424242424242'],
    ['4242424242424242.0', '4242424242424242'],
    ['4242424242424242.000', '4242424242424242'],
    ['4242424242424242e0', '4242424242424242'],
    ['4242424242424242E+0', '4242424242424242'],
    ['4.242424242424242e15', '4242424242424242'],
    ['42424242424242.42e2', '4242424242424242'],
    ['424242424242424.2e1', '4242424242424242'],
    ['6212345678901234569.0', '6212345678901234569'],
    ['0.0', '0'],
  ])('%s denotes %s', (lit, digits) => {
    expect(integerDigits(lit)).toBe(digits);
  });

  it.each(['1733100000000.123', '4242424242424242.5', '4.2e-3', '42424242424242.42e1', '1e400', 'abc', '12.', '.5'])('%s is not an integer literal', (lit) => {
    expect(integerDigits(lit)).toBeNull();
  });
});
