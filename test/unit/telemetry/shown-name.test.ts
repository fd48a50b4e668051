// shownName: the name or URI as the audit trail may carry it (spans, decision records, recordings).
import { describe, expect, it } from 'vitest';
import { MaskPlanCache } from '../../../gateway/masking/index.ts';
import { shownName } from '../../../gateway/mcp/protect.ts';
import type { MaskInstruction } from '../../../gateway/policy/decision.ts';
import { HASH_KEY } from '../masking/helpers.ts';

const plans = new MaskPlanCache({ hashKey: HASH_KEY });
const email: MaskInstruction[] = [{ detector: 'email', style: 'marker' }];

describe('shownName', () => {
  it('masks a resource URI and a tool name as the decision masks the params field', () => {
    const uri = shownName('resources/read', 'test://customers/ada@example.com', { instructions: email, mode: 'strict' }, plans);
    expect(uri).toContain('[MASKED:email');
    expect(uri).not.toContain('ada@example.com');
    expect(shownName('tools/call', 'mail_ada@example.com', { instructions: email, mode: 'strict' }, plans)).not.toContain('ada@example.com');
  });

  it('masks by the field the method names it with (key rules on `uri` apply to URIs only)', () => {
    const byKey: MaskInstruction[] = [{ key: 'uri', style: 'marker' }];
    expect(shownName('resources/read', 'test://x', { instructions: byKey, mode: 'strict' }, plans)).not.toBe('test://x');
    expect(shownName('tools/call', 'echo', { instructions: byKey, mode: 'strict' }, plans)).toBe('echo');
  });

  it('keeps a name no directive masks, and names nothing for ""', () => {
    expect(shownName('tools/call', 'echo', undefined, plans)).toBe('echo');
    expect(shownName('tools/call', 'echo', { instructions: email, mode: 'strict' }, plans)).toBe('echo');
    expect(shownName('tools/call', '', { instructions: email, mode: 'strict' }, plans)).toBe('');
  });

  it('withholds the name (\'\') when a strict mask cannot be applied', () => {
    const broken = [{ detector: 'no-such-detector', style: 'marker' }] as unknown as MaskInstruction[];
    expect(shownName('resources/read', 'test://customers/ada@example.com', { instructions: broken, mode: 'strict' }, plans)).toBe('');
  });
});
