// The `--log nats://HOST:PORT[,HOST:PORT…]` target of a replicated log.

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$/;

/**
 * `nats://HOST:PORT[,HOST:PORT…]` → `['HOST:PORT', …]`. Throws an Error whose message says what
 * to fix (the caller maps it to a config error).
 */
export function parseNatsTarget(s: string): string[] {
  const want = 'expected nats://HOST:PORT[,HOST:PORT...], e.g. nats://10.0.0.5:4222,10.0.0.6:4222';
  if (!s.startsWith('nats://')) throw new Error(`log target "${s}": ${want}`);
  const rest = s.slice('nats://'.length);
  if (rest === '') throw new Error(`log target "${s}": no server given; ${want}`);
  const seen = new Set<string>();
  return rest.split(',').map((part) => {
    const hp = part.trim();
    const colon = hp.lastIndexOf(':');
    if (colon <= 0) throw new Error(`log target "${s}": server "${hp}" lacks a :PORT; ${want}`);
    const host = hp.slice(0, colon);
    const portText = hp.slice(colon + 1);
    if (!HOST_RE.test(host) || (host.includes(':') && !host.startsWith('['))) {
      throw new Error(`log target "${s}": "${host}" is not a host name or address (IPv6 goes in brackets); ${want}`);
    }
    const port = Number(portText);
    if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
      throw new Error(`log target "${s}": port "${portText}" of "${hp}" must be 1-65535; ${want}`);
    }
    const server = `${host}:${port}`;
    if (seen.has(server)) throw new Error(`log target "${s}": server ${server} is listed twice`);
    seen.add(server);
    return server;
  });
}
