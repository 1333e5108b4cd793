/**
 * A reader that stops early (`companion-agent status | head -4`) closes the pipe: the rest of the
 * output is unwanted, not an error. End quietly with exit 0 instead of an unhandled EPIPE stack
 * trace. Any other write error still crashes loudly. Not used by `run`: the agent's own output
 * going away is for systemd to see.
 */
export function endQuietlyOnEpipe(
  stream: NodeJS.WritableStream,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    exit(0);
  });
}
