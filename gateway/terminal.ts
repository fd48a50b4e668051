// What the operators' commands (portcullis approvals, portcullis sessions) share: how they print
// text an upstream, a requester or a recording put in a field, and what they are given to run.

/**
 * Printable: control characters, direction overrides and marks, and invisible characters in a
 * value cannot drive or deceive the terminal; each is written as its `\uXXXX` escape, which in
 * JSON text stays valid JSON for the same value.
 */
export const printable = (value: unknown): string => String(value).replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** What a command is given: where its output goes, its environment, and (tests) its fetch. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}
