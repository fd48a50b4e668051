// The decision log's bounded FIFO of encoded events. The first `inFlight` events are the batch
// being sent: they leave only when settled, and are never dropped for room. Dropping the oldest
// waiting event costs O(batch in flight), not O(buffer), so a full buffer during an outage does
// not make each record slower as the buffer grows.

export interface QueuedEvent { json: string; bytes: number }

export class EventQueue {
  #items: QueuedEvent[] = [];
  #head = 0;
  #inFlight = 0;
  #inFlightBytes = 0;
  #bytes = 0;

  get length(): number { return this.#items.length - this.#head; }
  /** Events and bytes behind the batch in flight. */
  get waiting(): number { return this.length - this.#inFlight; }
  get waitingBytes(): number { return this.#bytes - this.#inFlightBytes; }

  push(event: QueuedEvent): void {
    this.#items.push(event);
    this.#bytes += event.bytes;
  }

  /** Drops the oldest waiting event (the newest, if it is the only one waiting); false if none waits. */
  dropOldestWaiting(): boolean {
    if (this.waiting === 0) return false;
    const at = this.#head + this.#inFlight;
    this.#bytes -= this.#items[at]!.bytes;
    // Shift the batch in flight over the dropped slot, then advance the head past the gap.
    this.#items.copyWithin(this.#head + 1, this.#head, at);
    this.#head++;
    this.#compact();
    return true;
  }

  /** Marks the next batch, up to `maxEvents` and `maxBytes` as a JSON array (at least one event), in flight. */
  takeBatch(maxEvents: number, maxBytes: number): QueuedEvent[] {
    let bytes = 2;
    let n = 0;
    while (n < this.length && n < maxEvents) {
      const next = this.#items[this.#head + n]!.bytes + (n > 0 ? 1 : 0);
      if (n > 0 && bytes + next > maxBytes) break;
      bytes += next;
      n++;
    }
    const batch = this.#items.slice(this.#head, this.#head + n);
    this.#inFlight = n;
    this.#inFlightBytes = bytes - 2 - Math.max(0, n - 1);
    return batch;
  }

  /** The batch in flight is done with: `delivered` (or refused) removes it, else it waits again. */
  settle(remove: boolean): void {
    if (remove) {
      this.#head += this.#inFlight;
      this.#bytes -= this.#inFlightBytes;
      this.#compact();
    }
    this.#inFlight = 0;
    this.#inFlightBytes = 0;
  }

  /** Empties the queue (nothing may be in flight); returns how many events it held. */
  clear(): number {
    const n = this.length;
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#inFlight = 0;
    this.#inFlightBytes = 0;
    return n;
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
