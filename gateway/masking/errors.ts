/**
 * Masking could not be done as instructed: a bad instruction (compileMask), or, in strict mode, a
 * document that cannot be masked as instructed (applyMask). Messages name the instruction
 * (`mask[2].key_regex: …`) and never contain values from the document being masked.
 */
export class MaskError extends Error {
  override readonly name = 'MaskError';
  /** Index of the offending instruction in the list, when one is to blame. */
  readonly index: number | undefined;
  /** The offending field of that instruction (`path`, `style`, …), when one is to blame. */
  readonly field: string | undefined;

  constructor(message: string, index?: number, field?: string) {
    super(message);
    this.index = index;
    this.field = field;
  }
}
