/**
 * A small Server-Sent Events reader over fetch for `motobio watch` (Node has no EventSource):
 * frames are split on blank lines, comments (": keep-alive") skipped, each event handed over
 * with its type and its data parsed as JSON.
 */
import { MotobioError } from '../../util/errors.js';

export interface SseEvent {
  readonly type: string;
  readonly data: unknown;
}

/**
 * Reads `url` until the stream ends (resolves) or fails (rejects with why); `onOpen` once the
 * daemon answered 200. A daemon that answers with an error status rejects with its text.
 */
export async function readEvents(url: URL, onEvent: (e: SseEvent) => void, signal: AbortSignal, onOpen?: () => void): Promise<void> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal });
  if (res.status !== 200 || !res.body) {
    const text = (await res.text().catch(() => '')).trim();
    throw new MotobioError('SOURCE_UNAVAILABLE', `HTTP ${res.status}${text ? `: ${text}` : ''}`);
  }
  onOpen?.();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, '\n');
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let type = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = val;
        else if (field === 'data') data.push(val);
      }
      if (data.length === 0) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.join('\n'));
      } catch {
        continue; // Not ours to draw; the next frame will do.
      }
      onEvent({ type, data: parsed });
    }
  }
}
