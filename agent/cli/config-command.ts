/** `companion-agent config check`: validate every layer, print the effective config and where each value came from. */
import { loadConfigLayers, redactConfig } from '../config/config.js';
import { BUILT_IN } from '../config/layers.js';
import type { CliContext } from './context.js';

export function configCheckCommand(ctx: CliContext): number {
  const { config, files, sources } = loadConfigLayers({ path: ctx.flags.config, env: ctx.env });
  const redacted = redactConfig(config);
  if (ctx.flags.json) {
    ctx.out(JSON.stringify({ config: redacted, files, sources }, null, 2));
    return 0;
  }
  const paths = Object.keys(sources).sort();
  const width = Math.max(0, ...paths.map((p) => p.length));
  ctx.out(
    [
      `config OK (${files.length > 0 ? files.join(' + ') : BUILT_IN}${paths.some((p) => sources[p]!.startsWith('environment')) ? ' + environment' : ''})`,
      JSON.stringify(redacted, null, 2),
      '',
      paths.length > 0
        ? `where each value came from (anything not listed: ${BUILT_IN}):`
        : `every value is a ${BUILT_IN.replace(/s$/, '')}`,
      ...paths.map((p) => `  ${p.padEnd(width)}  ${sources[p]}`),
    ].join('\n'),
  );
  return 0;
}
