/**
 * Turns the raw byte stream of an AT port into lines. Pure and incremental: chunks can end in the
 * middle of a line, lines end in CR, LF or CRLF, and the port can deliver garbage (noise at boot,
 * binary from a confused modem). Non-printable bytes are dropped, empty lines are skipped, and a
 * runaway line without terminator is cut at maxLineLength so memory stays bounded.
 */
export class LineSplitter {
  private partial = '';

  constructor(private readonly maxLineLength = 1024) {}

  push(chunk: string): string[] {
    const lines: string[] = [];
    for (const ch of chunk) {
      if (ch === '\r' || ch === '\n') {
        this.flushInto(lines);
        continue;
      }
      const code = ch.codePointAt(0)!;
      // Printable ASCII plus anything non-ASCII (operator names may be UTF-8); drop control bytes.
      if (code < 0x20 || code === 0x7f || code === 0xfffd) continue;
      if (this.partial.length + ch.length > this.maxLineLength) this.flushInto(lines);
      this.partial += ch;
    }
    return lines;
  }

  /** Drops a half-received line (the port was reopened; what was before belongs to nobody). */
  reset(): void {
    this.partial = '';
  }

  private flushInto(lines: string[]): void {
    const line = this.partial.trim();
    this.partial = '';
    if (line.length > 0) lines.push(line);
  }
}
