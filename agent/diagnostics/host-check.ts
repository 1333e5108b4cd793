/**
 * The Host header check against DNS rebinding: a page on some other site whose name an attacker
 * points at the unit's address would otherwise reach the page shell and /livez (and any route, if a
 * token ever leaked into that browser). A request is served only when its Host names this unit:
 * its unit id, <unitId>.local, its hostname (and .local), localhost, configured names, the bind
 * address, or any address of its own interfaces (read again at most every 30 s: DHCP moves them).
 */
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

const ADDRESS_TTL_MS = 30_000;

export class HostGuard {
  private readonly names: Set<string>;
  private addresses = new Set<string>();
  private readAt = -Infinity;

  constructor(
    o: { unitId: string; names: string[]; bindHost: string },
    private readonly now: () => number = () => performance.now(),
  ) {
    const host = hostname().toLowerCase();
    this.names = new Set(
      [o.unitId, `${o.unitId}.local`, host, `${host}.local`, 'localhost', ...o.names].map((n) =>
        n.toLowerCase(),
      ),
    );
    if (!['0.0.0.0', '::', ''].includes(o.bindHost)) this.names.add(o.bindHost.toLowerCase());
  }

  /** The host part of a Host header (no port, no brackets, no trailing dot), lowercase. */
  static hostOf(header: string): string | null {
    const h = header.trim().toLowerCase();
    const m = /^\[([0-9a-f:.%]+)\](?::\d{1,5})?$/.exec(h) ?? /^([^:[\]]+)(?::\d{1,5})?$/.exec(h);
    return m ? m[1]!.replace(/\.$/, '') : null;
  }

  allows(header: string | undefined): boolean {
    if (!header) return false;
    const host = HostGuard.hostOf(header);
    if (host === null) return false;
    if (this.names.has(host)) return true;
    const ip = host.replace(/%.*$/, '');
    if (!isIP(ip)) return false;
    // An address not seen yet may be a fresh DHCP lease: look again (at most every 2 s).
    return this.ownAddresses(ADDRESS_TTL_MS).has(ip) || this.ownAddresses(2_000).has(ip);
  }

  private ownAddresses(maxAgeMs: number): Set<string> {
    const t = this.now();
    if (t - this.readAt > maxAgeMs) {
      const next = new Set<string>();
      for (const list of Object.values(networkInterfaces())) {
        for (const a of list ?? []) next.add(a.address.toLowerCase().replace(/%.*$/, ''));
      }
      this.addresses = next;
      this.readAt = t;
    }
    return this.addresses;
  }
}
