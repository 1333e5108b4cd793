// Refuses a package whose native addons (*.node) are built for another CPU than the .deb targets:
// an x86 better_sqlite3.node on an arm64 unit fails only at start, in the field.
// Usage: node scripts/check-native-arch.mjs <dir> <dpkg-arch> [more ELF files, e.g. the shipped node]
import { openSync, readSync, closeSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import console from 'node:console';
import process from 'node:process';

// ELF e_machine values per Debian architecture.
const MACHINE = { amd64: 62, arm64: 183, armhf: 40, i386: 3 };
const [dir, arch, ...extra] = process.argv.slice(2);
const want = MACHINE[arch];
if (!dir || want === undefined) {
  console.error(`usage: check-native-arch.mjs <dir> <${Object.keys(MACHINE).join('|')}>`);
  process.exit(2);
}

function* nodeFiles(d) {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) yield* nodeFiles(p);
    else if (name.endsWith('.node')) yield p;
  }
}

const bad = [];
let count = 0;
for (const file of [...nodeFiles(dir), ...extra]) {
  const buf = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  readSync(fd, buf, 0, 20, 0);
  closeSync(fd);
  count++;
  const isElf = buf.readUInt32BE(0) === 0x7f454c46;
  const machine = buf[5] === 2 ? buf.readUInt16BE(18) : buf.readUInt16LE(18);
  if (!isElf || machine !== want)
    bad.push(`${file} (${isElf ? `e_machine ${machine}` : 'not ELF'})`);
}
if (bad.length) {
  console.error(`native addons not built for ${arch}:\n  ${bad.join('\n  ')}`);
  process.exit(1);
}
console.log(
  `check-native-arch: ${count - extra.length} native addon(s)${extra.length ? ` and ${extra.length} more ELF file(s)` : ''}, all ${arch}`,
);
