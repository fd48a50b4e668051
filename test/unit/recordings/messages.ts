// Recorded messages for the recordings tests: shaped as the request path hands them (masked).
import type { RecordedMessage } from '../../../gateway/recordings/index.ts';

let clock = Date.now();

/** A message of `recording`; later calls get later times unless `time` is given. */
export function recorded(recording: string, n: number, extra: Partial<RecordedMessage> = {}): RecordedMessage {
  clock += 7;
  const request = n % 2 === 1;
  return {
    recording, target: 'crm', era: 'legacy', protocolVersion: '2025-11-25', sessionId: recording,
    time: clock, direction: request ? 'client_to_server' : 'server_to_client', origin: request ? 'client' : 'upstream',
    kind: request ? 'request' : 'response', method: request ? 'tools/call' : '', name: request ? 'lookup' : '', rpcId: Math.ceil(n / 2),
    principal: '["user","https://idp.example","alice"]', subjectJson: '{"sub":"alice"}',
    message: request
      ? { jsonrpc: '2.0', id: Math.ceil(n / 2), method: 'tools/call', params: { name: 'lookup', arguments: { n, email: '[MASKED:email ...com]' } } }
      : { jsonrpc: '2.0', id: Math.ceil(n / 2), result: { content: [{ type: 'text', text: `answer ${n}` }] } },
    decision: { id: `dec_${n}`, outcome: 'allow', allow: true, approvalRequired: false, ruleIds: ['crm.lookup'], reasons: [], revision: 'r1', masked: { email: 1 } },
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7',
    ...extra,
  };
}

/** The time the next `recorded` call will be past. */
export const now = () => clock;
