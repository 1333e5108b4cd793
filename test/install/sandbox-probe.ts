/**
 * Does the service's hardening leave the modem, audio and ModemManager paths open? A oneshot unit
 * made from the installed companion-agent.service itself (same user, groups and every sandboxing
 * line; only the type and the command differ) runs a probe on the packaged node that opens device
 * nodes of each allowed class and talks to the system D-Bus. No hardware here: a node of an allowed
 * class with no driver behind it answers ENXIO/ENODEV, which means the sandbox let the open through
 * to the kernel driver layer; a blocked one answers EPERM/EACCES. A control node of a class the
 * allow-list does not name shows whether this environment enforces the device policy at all.
 */
import type { BootedContainer } from './container.js';

export const PROBE_NODES = {
  '/dev/ttyUSB9': { type: 'c 188 9', group: 'dialout' }, // USB serial (Quectel, SIMCom AT ports)
  '/dev/ttyACM9': { type: 'c 166 9', group: 'dialout' }, // CDC ACM modems
  '/dev/snd/controlC9': { type: 'c 116 9', group: 'audio' }, // ALSA
  '/dev/probe-not-allowed': { type: 'c 1 11', group: 'dialout' }, // kmsg's numbers: not on the list
} as const;

const PROBE_JS = `
const fs = require('fs'), net = require('net');
const res = { uid: process.getuid(), devices: {} };
for (const p of ${JSON.stringify(Object.keys(PROBE_NODES))}) {
  try { fs.closeSync(fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)); res.devices[p] = 'opened'; }
  catch (e) { res.devices[p] = e.code; }
}
const s = net.connect('/run/dbus/system_bus_socket');
const done = (v) => { res.dbus = v; process.stdout.write(JSON.stringify(res) + '\\n'); s.destroy(); };
s.on('connect', () => s.write('\\0AUTH EXTERNAL ' + Buffer.from(String(process.getuid())).toString('hex') + '\\r\\n'));
s.on('data', (d) => done(d.toString().split(' ')[0]));
s.on('error', (e) => done(e.code));
setTimeout(() => done('timeout'), 5000).unref();
`;

export interface ProbeResult {
  uid: number;
  devices: Record<string, string>;
  dbus: string;
}

export function runSandboxProbe(c: BootedContainer): ProbeResult {
  const nodes = Object.entries(PROBE_NODES)
    .map(
      ([p, n]) =>
        `mkdir -p ${p.replace(/\/[^/]+$/, '')}; mknod -m 0660 ${p} ${n.type}; chgrp ${n.group} ${p}`,
    )
    .join('\n');
  const js = Buffer.from(PROBE_JS).toString('base64');
  const r = c.exec(
    `set -e
${nodes}
echo ${js} | base64 -d > /run/companion-probe.js
sed -e 's/^Type=.*/Type=oneshot/' -e '/^WatchdogSec=/d' -e '/^Restart/d' -e '/^TimeoutStartSec=/d' \\
    -e 's#^ExecStart=.*#ExecStart=/usr/lib/companion-agent/node/bin/node /run/companion-probe.js#' \\
    -e '/^\\[Service\\]/a StandardOutput=truncate:/run/companion-probe.out' \\
    /lib/systemd/system/companion-agent.service > /run/systemd/system/companion-probe.service
systemctl daemon-reload
systemctl start companion-probe.service
cat /run/companion-probe.out
systemctl stop companion-probe.service || true
rm -f /run/systemd/system/companion-probe.service /run/companion-probe.js /run/companion-probe.out ${Object.keys(PROBE_NODES).join(' ')}
systemctl daemon-reload`,
  );
  if (r.code !== 0) throw new Error(`sandbox probe failed (${r.code}):\n${r.out}\n${r.err}`);
  const line = r.out.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`sandbox probe printed nothing:\n${r.out}\n${r.err}`);
  return JSON.parse(line) as ProbeResult;
}
