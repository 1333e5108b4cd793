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
