import { z } from 'zod';

/**
 * How a simulated callee/modem behaves for one dial. The same format scripts the in-process
 * SimulatorModem and the AT modem simulator on a pty, so one contract suite can script both.
 * All delays are milliseconds measured from the dial unless the field says otherwise.
 */
const ms = z.number().int().nonnegative();

export const simBehaviorSchema = () =>
  z.discriminatedUnion('outcome', [
    z.object({
      /** The callee answers. */
      outcome: z.literal('answer'),
      alertAfterMs: ms.default(200),
      answerAfterMs: ms.default(2_000),
      /** Remote hang-up this long after answering; omitted = stays until local hang-up or max duration. */
      hangupAfterMs: ms.optional(),
      /** The modem stops responding this long after answering (mid-call failure). */
      silentAfterMs: ms.optional(),
    }),
    /** The callee's line is busy. */
    z.object({ outcome: z.literal('busy'), afterMs: ms.default(1_000) }),
    /** It rings until the driver's ring timeout. */
    z.object({ outcome: z.literal('no_answer'), alertAfterMs: ms.default(200) }),
    /** The callee declines while it rings. */
    z.object({
      outcome: z.literal('rejected'),
      alertAfterMs: ms.default(200),
      afterMs: ms.default(3_000),
    }),
    /** The network refuses the call (invalid number, no service...). */
    z.object({
      outcome: z.literal('failed'),
      afterMs: ms.default(500),
      detail: z.string().default('call failed'),
    }),
    z.object({ outcome: z.literal('no_carrier'), afterMs: ms.default(500) }),
    /** The dial command itself errors: dial() rejects with ModemError('dial_failed'). */
    z.object({ outcome: z.literal('dial_error'), message: z.string().default('ERROR') }),
    /** The dial is accepted and then nothing ever happens (a wedged driver); `done` never resolves. */
    z.object({ outcome: z.literal('hang') }),
    /** The modem goes silent this long after the dial, before anyone answers. */
    z.object({ outcome: z.literal('silent'), afterMs: ms.default(500) }),
    /** The modem's port vanishes this long after the dial and comes back downMs later. */
    z.object({
      outcome: z.literal('drop_port'),
      afterMs: ms.default(500),
      downMs: ms.default(2_000),
    }),
  ]);

export type SimBehavior = z.output<ReturnType<typeof simBehaviorSchema>>;
export type SimBehaviorInput = z.input<ReturnType<typeof simBehaviorSchema>>;

/** `number`: an exact E.164 number, a prefix ending in `*` ("+4930*"), or `*` for every number. */
export const simRuleSchema = () =>
  z.intersection(z.object({ number: z.string().min(1) }), simBehaviorSchema());
export type SimRule = z.output<ReturnType<typeof simRuleSchema>>;
export type SimRuleInput = z.input<ReturnType<typeof simRuleSchema>>;

/** What a number gets when no rule matches: answers after 2 s, remote hang-up after 10 s. */
export const DEFAULT_SIM_BEHAVIOR: SimBehavior = {
  outcome: 'answer',
  alertAfterMs: 200,
  answerAfterMs: 2_000,
  hangupAfterMs: 10_000,
};

/**
 * Rules matched by specificity: exact number, then the longest matching prefix, then `*`.
 * Later rules for the same pattern replace earlier ones.
 */
export class SimRuleBook {
  private readonly byPattern = new Map<string, SimBehavior>();

  constructor(rules: SimRuleInput[] = []) {
    for (const r of rules) {
      const { number, ...behavior } = simRuleSchema().parse(r);
      this.byPattern.set(number, behavior as SimBehavior);
    }
  }

  set(pattern: string, behavior: SimBehaviorInput): void {
    this.byPattern.set(pattern, simBehaviorSchema().parse(behavior));
  }

  delete(pattern: string): void {
    this.byPattern.delete(pattern);
  }

  clear(): void {
    this.byPattern.clear();
  }

  match(number: string): SimBehavior | undefined {
    const exact = this.byPattern.get(number);
    if (exact) return exact;
    let best: { len: number; b: SimBehavior } | undefined;
    for (const [pattern, b] of this.byPattern) {
      if (pattern === '*' || !pattern.endsWith('*')) continue;
      const prefix = pattern.slice(0, -1);
      if (number.startsWith(prefix) && (!best || prefix.length > best.len)) {
        best = { len: prefix.length, b };
      }
    }
    return best?.b ?? this.byPattern.get('*');
  }
}
