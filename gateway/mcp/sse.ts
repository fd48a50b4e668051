// Server-Sent Events relayed event by event: each upstream event is parsed, handed to a transform,
// and written out before the next one is read. Nothing is buffered beyond the event in hand.
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export function formatEvent(event: { id?: string | undefined; event?: string | undefined; data: string }): string {
  let out = '';
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  for (const line of event.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return `${out}\n`;
}

/** Text to write for an event, or null to drop it. */
export type EventTransform = (event: EventSourceMessage) => Promise<string | null>;

/** Yields the relayed stream in chunks, one per upstream event (plus retry hints and comments). */
export async function* relaySse(body: AsyncIterable<Buffer>, transform: EventTransform): AsyncGenerator<string> {
  const pending: Array<EventSourceMessage | string> = [];
  const parser = createParser({
    onEvent: (event) => pending.push(event),
    onRetry: (ms) => pending.push(`retry: ${ms}\n\n`),
    // A comment keeps the connection alive; its text is not screened, so none of it is passed on.
    onComment: () => pending.push(':\n\n'),
  });
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    while (pending.length > 0) {
      const item = pending.shift()!;
      const out = typeof item === 'string' ? item : await transform(item);
      if (out !== null) yield out;
    }
  }
}
