/**
 * What the agent does with the HAL's call-audio reports (hal/call-audio.ts): a failed audio step
 * becomes an `audio.failed` outbox event (the cloud hears that a resident may not have heard a
 * call), a metric and a log line. The call goes out whatever the audio did: a `prepare` failure
 * (callId null: before the dial) means the call was placed with the audio as it was.
 */
import type { CallAudioEvent } from '../hal/call-audio.js';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import type { Store } from './store/store.js';

export interface CallAudioSource {
  onAudioEvent(listener: (e: CallAudioEvent) => void): () => void;
}

export interface CallAudioReportDeps {
  source: CallAudioSource;
  store: () => Store;
  clock: Clock;
  logger: Logger;
  /** e.g. DiagnosticsMetrics.audioFailure */
  onFailure?: (phase: string, step: string) => void;
}

/** The outbox payload of `audio.failed`, built in one place. */
export function audioFailedPayload(e: Extract<CallAudioEvent, { type: 'audio_failed' }>) {
  return {
    callId: e.callId,
    phase: e.failure.phase,
    step: e.failure.step,
    detail: e.failure.detail.slice(0, 500),
    at: new Date(e.failure.at).toISOString(),
  };
}

/** Subscribes; returns the unsubscribe function. */
export function reportCallAudio(d: CallAudioReportDeps): () => void {
  const log = d.logger.child({ component: 'call-audio' });
  return d.source.onAudioEvent((e) => {
    if (e.type !== 'audio_failed') return;
    d.onFailure?.(e.failure.phase, e.failure.step);
    try {
      const store = d.store();
      store.tx(() => store.outbox.add('audio.failed', audioFailedPayload(e), d.clock.now()));
    } catch (err) {
      // The store is closed (stopping) or full: the failure is still in the log and the metric.
      log.warn({ err, step: e.failure.step }, 'audio failure not written to the outbox');
    }
  });
}
