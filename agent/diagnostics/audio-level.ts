/** How loud a recorded clip is (microphone loopback check): RMS and peak in dBFS, and a verdict. */
import type { AudioClip } from '../../hal/types.js';

export interface ClipLevel {
  durationMs: number;
  rmsDbfs: number | null;
  peakDbfs: number | null;
  /** silent: nothing reached the microphone; clipping: too loud (or a stuck input); ok otherwise. */
  verdict: 'silent' | 'ok' | 'clipping';
}

/** Below this the microphone heard nothing (a quiet room is around -50 dBFS on these units). */
export const SILENT_BELOW_DBFS = -60;
export const CLIPPING_FROM_DBFS = -0.1;

const dbfs = (x: number) => (x <= 0 ? null : Math.round(20 * Math.log10(x / 32768) * 10) / 10);

export function clipLevel(clip: AudioClip): ClipLevel {
  const samples = Math.floor(clip.data.length / 2);
  let sumSq = 0;
  let peak = 0;
  for (let i = 0; i < samples; i++) {
    const v = clip.data.readInt16LE(i * 2);
    sumSq += v * v;
    const a = Math.abs(v);
    if (a > peak) peak = a;
  }
  const rms = samples ? Math.sqrt(sumSq / samples) : 0;
  const rmsDbfs = dbfs(rms);
  const peakDbfs = dbfs(peak);
  const verdict =
    rmsDbfs === null || rmsDbfs < SILENT_BELOW_DBFS
      ? 'silent'
      : peakDbfs !== null && peakDbfs >= CLIPPING_FROM_DBFS
        ? 'clipping'
        : 'ok';
  const perChannel = samples / Math.max(1, clip.channels);
  return {
    durationMs: Math.round((perChannel / clip.rateHz) * 1000),
    rmsDbfs,
    peakDbfs,
    verdict,
  };
}
