import { compileMask, type MaskPlan } from '../../../gateway/masking/index.ts';
import type { MaskInstruction } from '../../../gateway/policy/decision.ts';

export const HASH_KEY = new Uint8Array(32).fill(0x42);

export const plan = (instructions: MaskInstruction[], maxDepth?: number): MaskPlan =>
  compileMask(instructions, maxDepth === undefined ? { hashKey: HASH_KEY } : { hashKey: HASH_KEY, maxDepth });

/** Freezes a value deeply, so any mutation by the engine throws in strict-mode test code. */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

/** Luhn-valid test card numbers published by the networks. */
export const CARDS = {
  visa: '4242424242424242',
  visa2: '4111111111111111',
  mastercard: '5555555555554444',
  mastercard2series: '2223003122003222',
  amex: '378282246310005',
  discover: '6011111111111117',
  diners: '30569309025904',
  jcb: '3530111333300000',
  unionpay19: '6212345678901234569',
} as const;

/** Valid IBANs (ISO 13616 examples and the demo's). */
export const IBANS = ['GB82WEST12345698765432', 'DE89370400440532013000', 'FR1420041010050500013M02606', 'NL91ABNA0417164300', 'NO9386011117947', 'CH9300762011623852957'];
