// The keys of a service config file (/etc/ftcp/NAME.toml): one entry per `ftcp run` flag, each with
// its zod schema, documentation and example. The loader validates with this table and the operations
// guide's configuration reference is generated from it, so the two cannot drift apart.
import { isIP } from 'node:net';
import { z } from 'zod';
import { isHostPort } from '../metrics/host-port.js';
import { DEFAULT_HOST4, DEFAULT_HOST6, DEFAULT_VIP4, NAME_PATTERN } from '../run/run-config.js';

export interface ConfigKey {
  /** Table the key lives in (`[log]`), or undefined for the top level. */
  table: 'log' | undefined;
  key: string;
  /** The `ftcp run` flag it stands for (flags given on the command line override the file). */
  flag: string;
  type: string;
  default: string;
  doc: string;
  example: string;
  schema: z.ZodType;
}

/** `log.data_dir` style name used in messages and the reference. */
export const dottedKey = (k: Pick<ConfigKey, 'table' | 'key'>): string => (k.table ? `${k.table}.${k.key}` : k.key);

const ipAddress = (example: string): z.ZodType =>
  z
    .string({ error: `expected an IPv4 or IPv6 address in quotes, e.g. ${example}` })
    .refine((s) => isIP(s) !== 0, { error: (iss) => `${JSON.stringify(iss.input)} is not an IPv4 or IPv6 address, e.g. ${example}` });

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

/** "512MiB" → bytes; undefined when the text is not a size. */
export function parseByteSize(s: string): number | undefined {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(s);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : undefined;
}

const SIZE_HINT = 'expected a byte count: an integer or a string such as "512MiB" or "1GiB"';

const byteSize = z.union([z.number(), z.string()], { error: SIZE_HINT }).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : parseByteSize(v);
  if (n === undefined || !Number.isSafeInteger(n) || n < 0) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)}: ${SIZE_HINT}` });
    return z.NEVER;
  }
  return n;
});

const notAPort = (iss: { input?: unknown }): string => `${JSON.stringify(iss.input)} is not a port number (an integer 1-65535), e.g. ports = [8080]`;
/** An integer from min to max, with one message for every way a value can miss. */
const integerIn = (min: number, max: number, error: string | ((iss: { input?: unknown }) => string)) => z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
const port = integerIn(1, 65535, notAPort);
/** A file the daemon reads at start, named by its absolute path. */
const absolutePath = (example: string) =>
  z.string({ error: `expected a file path in quotes, e.g. ${example}` }).regex(/^\//, { error: (iss) => `${JSON.stringify(iss.input)} must be an absolute path, e.g. ${example}` });

const logTarget = z
  .string({ error: 'expected "unix:/PATH", "HOST:PORT" or "nats://HOST:PORT,...", e.g. target = "unix:/run/ftcp/logd.sock"' })
  .refine((s) => /^unix:\/./.test(s) || /^(?:\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):\d{1,5}$/.test(s) || /^nats:\/\/\S+$/.test(s), {
    error: (iss) =>
      `${JSON.stringify(iss.input)} is not a log server address: use "unix:/PATH", "HOST:PORT" or "nats://HOST:PORT,HOST:PORT", e.g. target = "unix:/run/ftcp/logd.sock"`,
  });

const oneOf = <T extends string>(values: readonly [T, ...T[]], example: string): z.ZodType =>
  z.enum(values, { error: (iss) => `${JSON.stringify(iss.input)} is not one of ${values.map((v) => `"${v}"`).join(', ')}, e.g. ${example}` });

export const CONFIG_KEYS: readonly ConfigKey[] = [
  {
    table: undefined,
    key: 'name',
    flag: '--name',
    type: 'string',
    default: 'the file name without .toml',
    doc: 'Service name: 1-12 characters of a-z, 0-9, _ or -. Names the namespace ftcp-NAME and the outer TUN ft-NAME.',
    example: 'name = "web"',
    schema: z
      .string({ error: 'expected a string, e.g. name = "web"' })
      .regex(NAME_PATTERN, { error: (iss) => `${JSON.stringify(iss.input)} must be 1-12 characters of a-z, 0-9, _ or -, starting with a letter or digit, e.g. name = "web"` }),
  },
  {
    table: undefined,
    key: 'vip',
    flag: '--vip',
    type: 'IP address',
    default: `"${DEFAULT_VIP4}"`,
    doc: 'Service address clients connect to. The host routes it into the outer TUN; the app sees it on its inner TUN.',
    example: 'vip = "10.77.0.2"',
    schema: ipAddress('vip = "10.77.0.2"'),
  },
  {
    table: undefined,
    key: 'host_addr',
    flag: '--host-addr',
    type: 'IP address',
    default: `"${DEFAULT_HOST4}" (IPv4 vip) / "${DEFAULT_HOST6}" (IPv6 vip)`,
    doc: 'Host-side address on the outer TUN, reachable from the app. Same IP version as vip, different from it.',
    example: 'host_addr = "10.77.0.1"',
    schema: ipAddress('host_addr = "10.77.0.1"'),
  },
  {
    table: undefined,
    key: 'ports',
    flag: '--port',
    type: 'list of integers',
    default: '(required)',
    doc: 'TCP ports the app listens on; connections to vip on these ports are protected.',
    example: 'ports = [8080]',
    schema: z.array(port, { error: 'expected a list of port numbers, e.g. ports = [8080]' }).min(1, { error: 'expected at least one port number, e.g. ports = [8080]' }),
  },
  {
    table: undefined,
    key: 'command',
    flag: '-- COMMAND...',
    type: 'list of strings',
    default: '(required)',
    doc: 'The server to protect, as an argument vector (no shell). It runs in the service namespace.',
    example: 'command = ["node", "/srv/web/server.js"]',
    schema: z
      .array(z.string({ error: 'expected a list of strings, e.g. command = ["node", "server.js"]' }), {
        error: 'expected a list of strings (the program and its arguments), e.g. command = ["node", "server.js"]',
      })
      .min(1, { error: 'expected the program and its arguments, e.g. command = ["node", "server.js"]' }),
  },
  {
    table: undefined,
    key: 'restart',
    flag: '--restart',
    type: '"no" | "on-failure" | "always"',
    default: '"on-failure" ("no" when log.mode = "off")',
    doc: 'Restart the app when it exits. A protected service comes back after a crash and its connections are replayed.',
    example: 'restart = "on-failure"',
    schema: oneOf(['no', 'on-failure', 'always'], 'restart = "on-failure"'),
  },
  {
    table: undefined,
    key: 'mtu',
    flag: '--mtu',
    type: 'integer 1280-65535',
    default: '1500',
    doc: 'MTU of both TUN devices.',
    example: 'mtu = 1500',
    schema: z
      .number({ error: 'expected an integer 1280-65535, e.g. mtu = 1500' })
      .int({ error: 'expected an integer 1280-65535, e.g. mtu = 1500' })
      .min(1280, { error: (iss) => `${String(iss.input)} is below 1280 (the IPv6 minimum); e.g. mtu = 1500` })
      .max(65535, { error: (iss) => `${String(iss.input)} is above 65535; e.g. mtu = 1500` }),
  },
  {
    table: undefined,
    key: 'busy_poll_us',
    flag: '--busy-poll-us',
    type: 'integer 0-10000',
    default: '50 (or FTCP_TUN_BUSY_POLL_US)',
    doc: 'After relaying a batch, keep polling both TUNs this many microseconds before sleeping: a round trip then crosses the relay without a wake-up (p50 +8 µs instead of +32 on a quiet host), at the cost of CPU while traffic flows and a worse p99 when the host is overloaded. 0 turns it off.',
    example: 'busy_poll_us = 50',
    schema: z
      .number({ error: 'expected an integer 0-10000, e.g. busy_poll_us = 50' })
      .int({ error: 'expected an integer 0-10000, e.g. busy_poll_us = 50' })
      .min(0, { error: 'expected an integer 0-10000, e.g. busy_poll_us = 50' })
      .max(10_000, { error: (iss) => `${String(iss.input)} is above 10000; e.g. busy_poll_us = 50` }),
  },
  {
    table: undefined,
    key: 'offload',
    flag: '--no-offload',
    type: 'boolean',
    default: 'true',
    doc: 'virtio-net headers with TSO/checksum offload on the TUNs (64 KiB segments). false only to debug.',
    example: 'offload = true',
    schema: z.boolean({ error: 'expected true or false (no quotes), e.g. offload = true' }),
  },
  {
    table: undefined,
    key: 'metrics',
    flag: '--metrics',
    type: 'string HOST:PORT',
    default: '(none: no metrics endpoint)',
    doc: 'Serve Prometheus metrics on http://HOST:PORT/metrics (read-only, no authentication: bind loopback unless the network is trusted).',
    example: 'metrics = "127.0.0.1:9464"',
    schema: z
      .string({ error: 'expected "HOST:PORT" in quotes, e.g. metrics = "127.0.0.1:9464"' })
      .refine(isHostPort, { error: (iss) => `${JSON.stringify(iss.input)} is not HOST:PORT, e.g. metrics = "127.0.0.1:9464" (IPv6: "[::1]:9464")` }),
  },
  {
    table: undefined,
    key: 'nice',
    flag: '--nice',
    type: 'integer -20..19',
    default: '-10',
    doc: 'Scheduling priority of every thread of the daemon and of the app it starts (which inherits it): the relay and the app run ahead of the host\'s other work, most of all while a restart or a takeover restores connections. 0 gives them no preference. Needs CAP_SYS_NICE (the unit ftcp@ has it); without it the daemon says so and runs at the priority it was given.',
    example: 'nice = -10',
    schema: integerIn(-20, 19, 'expected an integer -20 to 19, e.g. nice = -10'),
  },
  {
    table: undefined,
    key: 'max_replay_bytes',
    flag: '--max-replay-bytes',
    type: 'integer or size string',
    default: '"1GiB"',
    doc: 'Without the shim a connection is replayed from its first byte; past this many client bytes it is no longer protected.',
    example: 'max_replay_bytes = "1GiB"',
    schema: byteSize,
  },
  {
    table: 'log',
    key: 'mode',
    flag: '--log / --no-log',
    type: '"embedded" | "external" | "off"',
    default: '"embedded" ("external" when target is set)',
    doc: 'embedded: the daemon runs its own log server on data_dir. external: records go to the log server at target. off: pass-through relay, nothing protected.',
    example: 'mode = "embedded"',
    schema: oneOf(['embedded', 'external', 'off'], 'mode = "embedded"'),
  },
  {
    table: 'log',
    key: 'data_dir',
    flag: '--data-dir',
    type: 'path',
    default: '"/var/lib/ftcp/NAME"',
    doc: 'Directory of the embedded log server (mode = "embedded" only).',
    example: 'data_dir = "/var/lib/ftcp/web"',
    schema: z
      .string({ error: 'expected a directory path in quotes, e.g. data_dir = "/var/lib/ftcp/web"' })
      .regex(/^\//, { error: (iss) => `${JSON.stringify(iss.input)} must be an absolute path, e.g. data_dir = "/var/lib/ftcp/web"` }),
  },
  {
    table: 'log',
    key: 'durability',
    flag: '--durability',
    type: '"fsync" | "memory"',
    default: '"fsync"',
    doc: 'fsync: a record is acknowledged after fdatasync (survives a host crash). memory: after it is in the log server\'s memory (survives an app crash only). mode = "embedded" only.',
    example: 'durability = "fsync"',
    schema: oneOf(['fsync', 'memory'], 'durability = "fsync"'),
  },
  {
    table: 'log',
    key: 'target',
    flag: '--log TARGET',
    type: 'string',
    default: '(none)',
    doc: 'Address of an external log server (`ftcp logd`): "unix:/PATH" or "HOST:PORT"; or a replicated log on NATS JetStream, "nats://HOST:PORT,HOST:PORT,..." (host failover, `ftcp standby`) (mode = "external").',
    example: 'target = "unix:/run/ftcp/logd.sock"',
    schema: logTarget,
  },
  {
    table: 'log',
    key: 'token_file',
    flag: '--log-token-file',
    type: 'path',
    default: '(none)',
    doc: 'A log on another host: file holding the bearer token of the external `ftcp logd` (its --token-file), or a NATS token. With target = "HOST:PORT" or "nats://..." only.',
    example: 'token_file = "/etc/ftcp/log.token"',
    schema: absolutePath('token_file = "/etc/ftcp/log.token"'),
  },
  {
    table: 'log',
    key: 'tls_ca',
    flag: '--log-tls-ca',
    type: 'path',
    default: '(none)',
    doc: "A log on another host: CA certificate (PEM) the log server's TLS certificate must be signed by; turns TLS on (an `ftcp logd` with --tls-cert, or NATS with TLS).",
    example: 'tls_ca = "/etc/ftcp/log-ca.pem"',
    schema: absolutePath('tls_ca = "/etc/ftcp/log-ca.pem"'),
  },
  {
    table: 'log',
    key: 'tls_cert',
    flag: '--log-tls-cert',
    type: 'path',
    default: '(none)',
    doc: 'Client certificate (PEM), with tls_key, for a log server that verifies clients (`ftcp logd --tls-ca`, NATS `verify`).',
    example: 'tls_cert = "/etc/ftcp/log-client.pem"',
    schema: absolutePath('tls_cert = "/etc/ftcp/log-client.pem"'),
  },
  {
    table: 'log',
    key: 'tls_key',
    flag: '--log-tls-key',
    type: 'path',
    default: '(none)',
    doc: 'Key (PEM) of tls_cert.',
    example: 'tls_key = "/etc/ftcp/log-client.key"',
    schema: absolutePath('tls_key = "/etc/ftcp/log-client.key"'),
  },
  {
    table: 'log',
    key: 'creds',
    flag: '--log-creds',
    type: 'path',
    default: '(none)',
    doc: 'With a nats:// target: the NATS user credentials file (user JWT and nkey seed, as `nsc generate creds` writes it).',
    example: 'creds = "/etc/ftcp/ftcp.creds"',
    schema: absolutePath('creds = "/etc/ftcp/ftcp.creds"'),
  },
  {
    table: 'log',
    key: 'replicas',
    flag: '--replicas',
    type: 'integer',
    default: '3',
    doc: 'With a nats:// target: replicas of the log stream and of the lease bucket when this daemon creates them (a record is acknowledged once a majority stored it).',
    example: 'replicas = 3',
    schema: z.number({ error: 'expected an integer 1-5, e.g. replicas = 3' }).int({ error: 'expected an integer 1-5, e.g. replicas = 3' }).min(1, { error: 'expected 1-5, e.g. replicas = 3' }).max(5, { error: 'expected 1-5, e.g. replicas = 3' }),
  },
  {
    table: 'log',
    key: 'lease_ms',
    flag: '--lease-ms',
    type: 'integer (ms)',
    default: '1000',
    doc: 'With a nats:// target: the primary lease time. A primary that cannot renew its lease for this long stops sending; a standby takes over once it expired.',
    example: 'lease_ms = 1000',
    schema: z.number({ error: 'expected milliseconds 300-60000, e.g. lease_ms = 1000' }).int({ error: 'expected an integer, e.g. lease_ms = 1000' }).min(300, { error: 'expected 300-60000, e.g. lease_ms = 1000' }).max(60_000, { error: 'expected 300-60000, e.g. lease_ms = 1000' }),
  },
  {
    table: undefined,
    key: 'role',
    flag: '(ftcp standby)',
    type: '"primary" | "standby"',
    default: '"primary"',
    doc: 'standby: follow the replicated log (log.target = "nats://...") and take the service over when the primary host fails; the same unit (ftcp@NAME) then runs on both hosts.',
    example: 'role = "standby"',
    schema: z.enum(['primary', 'standby'], { error: 'expected "primary" or "standby", e.g. role = "standby"' }),
  },
  {
    table: undefined,
    key: 'lan_if',
    flag: '--lan-if',
    type: 'string',
    default: '(the link whose subnet holds the VIP, with a nats:// log)',
    doc: 'LAN link on which this host answers ARP for the VIP (proxy ARP) and announces it with gratuitous ARP when it becomes primary.',
    example: 'lan_if = "eth0"',
    schema: z.string({ error: 'expected an interface name in quotes, e.g. lan_if = "eth0"' }).regex(/^[A-Za-z0-9_.@-]{1,15}$/, { error: 'expected an interface name (1-15 characters), e.g. lan_if = "eth0"' }),
  },
  {
    table: undefined,
    key: 'icmp_nudge',
    flag: '--no-icmp-nudge',
    type: 'boolean',
    default: 'true',
    doc: 'After a takeover or a restart of the daemon, each held client gets ICMP "unreachable" errors about its unacknowledged bytes: a Linux client (RFC 6069) then retransmits at once instead of after its backed-off timer (up to seconds). Turn off for clients that set IP_RECVERR on their TCP sockets (they would see the error).',
    example: 'icmp_nudge = false',
    schema: z.boolean({ error: 'expected true or false, e.g. icmp_nudge = false' }),
  },
];
