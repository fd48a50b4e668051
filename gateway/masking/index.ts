// Public API of the masking engine (README.md in this directory documents the instruction
// vocabulary, the detectors and the semantics). Other modules import only from here.
export { applyMask, maskText, DEPTH_LIMIT_MARKER, type MaskMode, type MaskResult, type MaskTextResult } from './apply.ts';
export { MaskPlanCache } from './cache.ts';
export { DETECTOR_GROUPS, DETECTOR_NAMES, type DetectorName } from './detectors.ts';
export { MaskError } from './errors.ts';
export { compileMask, MaskPlan, type CompileOptions, type MaskStyle, type NormalizedInstruction } from './plan.ts';
