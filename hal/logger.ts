/**
 * The logger the HAL accepts. A pino logger satisfies it structurally, so the agent passes a child
 * logger in; hal never imports pino and never holds a global logger.
 */
export interface HalLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export const silentLogger: HalLogger = {
  info: () => {},
  warn: () => {},
  error: () => {},
  debug: () => {},
};

/**
 * Phone numbers are personal data (DESIGN rule 10): logs only ever see the last two digits.
 * "+4915123456789" → "***********89".
 */
export function maskNumber(number: string): string {
  if (number.length <= 2) return '*'.repeat(number.length);
  return '*'.repeat(number.length - 2) + number.slice(-2);
}

/**
 * Masks every phone number in a free-text line (a URC, a CEER text) before it reaches a log:
 * any run of three or more digits, with or without a leading +, keeps only its last two digits.
 * Short codes and emergency numbers ("112") are numbers too; single status digits ("1,0,2") stay.
 */
export function maskNumbersIn(text: string): string {
  return text.replace(/\+?\d{3,}/g, (n) => maskNumber(n));
}
