// Validated configuration of one protected service (`ftcp run`). Every error names the flag and the fix.
import { isIP } from 'node:net';
import { z } from 'zod';
import { isHostPort } from '../metrics/host-port.js';
import { LogCredentialsError, readLogCredentials, type LogCredentials } from '../log/log-credentials.js';
import { parseNatsTarget } from '../log/replica/target.js';

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,11}$/;

export interface RunConfig {
  name: string;
  /** Service address clients connect to; lives on the inner TUN inside the app's namespace. */
  vip: string;
  ipVersion: 4 | 6;
  /** Host-side address on the outer TUN: the source the host uses towards the VIP, reachable from the app. */
  hostAddr: string;
  ports: number[];
  /** Log and protect connections (false: pass-through relay only). */
  log: boolean;
  /** External log server (`unix:/path` or `host:port`); otherwise an embedded one on dataDir. */
  logTarget: string | undefined;
  /**
   * `--log nats://…`: the log is replicated on NATS JetStream (these servers) and the service has a
   * primary lease there, so a standby host can take it over (issue 8). logTarget is then undefined.
   */
  natsServers: string[] | undefined;
  /** Token, TLS and NATS credentials for a log on another host (HOST:PORT or nats:// targets). */
  logCredentials: LogCredentials | undefined;
  /** Replicas of the JetStream stream and lease bucket when this daemon creates them. */
  replicas: number;
  /** Lease time: a primary that cannot renew for this long stops; a standby takes over after it. */
  leaseMs: number;
  /** The LAN link the VIP is claimed on (proxy ARP + gratuitous ARP); found from the VIP's subnet if absent. */
  lanIf: string | undefined;
  /** Adopted connections' clients get RFC 6069 unreachable errors so that they retransmit at once. */
  icmpNudge: boolean;
  /** `standby`: follow the replicated log and take over when the primary fails (`ftcp standby`). */
  role: 'primary' | 'standby';
  dataDir: string;
  durability: 'fsync' | 'memory';
  /** Without the shim a connection is replayed from its start; past this it is unprotected. */
  maxReplayBytes: number;
  restart: 'no' | 'on-failure' | 'always';
  mtu: number;
  /** How long the TUN reader keeps polling after a batch before it sleeps (µs, 0 = never). */
  busyPollUs: number | undefined;
  vnetHdr: boolean;
  command: string[];
  /** HOST:PORT of the Prometheus endpoint, if any. */
  metrics: string | undefined;
  /** Nice value of every thread of the daemon, and so of the app it starts (-20..19). */
  nice: number;
}

export const DEFAULT_VIP4 = '10.77.0.2';
export const DEFAULT_HOST4 = '10.77.0.1';
export const DEFAULT_HOST6 = 'fd77::1';
/** The protected service (daemon and app) runs ahead of the host's other work: docs/OPERATIONS.md. */
export const DEFAULT_NICE = -10;

const ipAddress = (flag: string) =>
  z.string().refine((s) => isIP(s) !== 0, { message: `${flag} must be an IPv4 or IPv6 address` });

const port = z.coerce
  .number({ message: '--port must be a number' })
  .int('--port must be an integer')
  .min(1, '--port must be between 1 and 65535')
  .max(65535, '--port must be between 1 and 65535');

const schema = z.object({
  name: z
    .string({ message: '--name is required (a short service name, e.g. --name web)' })
    .regex(NAME_PATTERN, '--name must be 1-12 characters of a-z, 0-9, _ or -, starting with a letter or digit'),
  vip: ipAddress('--vip').optional(),
  hostAddr: ipAddress('--host-addr').optional(),
  port: z.array(port).min(1, 'at least one --port is required (the TCP port the app listens on)'),
  log: z.boolean().default(true),
  logTarget: z.string().min(1, '--log needs a target: unix:/path, host:port or nats://host:port,...').optional(),
  logTokenFile: z.string().min(1, '--log-token-file needs a file path').optional(),
  logTlsCa: z.string().min(1, '--log-tls-ca needs a file path (PEM)').optional(),
  logTlsCert: z.string().min(1, '--log-tls-cert needs a file path (PEM)').optional(),
  logTlsKey: z.string().min(1, '--log-tls-key needs a file path (PEM)').optional(),
  logCreds: z.string().min(1, '--log-creds needs a file path (a NATS .creds file)').optional(),
  replicas: z.coerce
    .number({ message: '--replicas must be a number (1, 3 or 5)' })
    .int('--replicas must be an integer')
    .min(1, '--replicas must be 1 to 5')
    .max(5, '--replicas must be 1 to 5')
    .default(3),
  leaseMs: z.coerce
    .number({ message: '--lease-ms must be a number of milliseconds' })
    .int('--lease-ms must be an integer')
    .min(300, '--lease-ms must be 300 to 60000')
    .max(60_000, '--lease-ms must be 300 to 60000')
    .default(1000),
  icmpNudge: z.boolean().default(true),
  lanIf: z.string().regex(/^[A-Za-z0-9_.@-]{1,15}$/, '--lan-if must be a network interface name (1-15 characters)').optional(),
  role: z.enum(['primary', 'standby'], { message: 'role must be primary or standby' }).default('primary'),
  dataDir: z.string().min(1, '--data-dir must be a directory path').optional(),
  durability: z.enum(['fsync', 'memory'], { message: '--durability must be fsync or memory' }).default('fsync'),
  maxReplayBytes: z.coerce
    .number({ message: '--max-replay-bytes must be a number of bytes' })
    .int('--max-replay-bytes must be an integer')
    .min(0, '--max-replay-bytes must not be negative')
    .default(1 << 30),
  restart: z.enum(['no', 'on-failure', 'always'], { message: '--restart must be no, on-failure or always' }).optional(),
  mtu: z.coerce.number().int().min(1280, '--mtu must be at least 1280').max(65535, '--mtu must be at most 65535').default(1500),
  vnetHdr: z.boolean().default(true),
  busyPollUs: z.coerce
    .number({ message: '--busy-poll-us must be a number of microseconds' })
    .int('--busy-poll-us must be an integer')
    .min(0, '--busy-poll-us must be 0 (off) to 10000')
    .max(10_000, '--busy-poll-us must be 0 (off) to 10000')
    .optional(),
  nice: z.coerce
    .number({ message: '--nice must be a number from -20 (highest priority) to 19' })
    .int('--nice must be an integer from -20 to 19')
    .min(-20, '--nice must be -20 to 19')
    .max(19, '--nice must be -20 to 19')
    .default(DEFAULT_NICE),
  metrics: z
    .string()
    .refine(isHostPort, { message: '--metrics must be HOST:PORT, e.g. 127.0.0.1:9464 (IPv6: [::1]:9464)' })
    .optional(),
  command: z.array(z.string()).min(1, 'the command to protect is missing: put it after `--`, e.g. `-- node server.js`'),
});

export type RawRunOptions = z.input<typeof schema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates raw options (from flags or a config file) into a RunConfig, or throws ConfigError. */
export function parseRunConfig(raw: unknown): RunConfig {
  const res = schema.safeParse(raw);
  if (!res.success) {
    const first = res.error.issues[0];
    throw new ConfigError(first ? first.message : 'invalid configuration');
  }
  const o = res.data;
  const vip = o.vip ?? DEFAULT_VIP4;
  const ipVersion = isIP(vip) === 6 ? 6 : 4;
  const hostAddr = o.hostAddr ?? (ipVersion === 6 ? DEFAULT_HOST6 : DEFAULT_HOST4);
  if (isIP(hostAddr) !== ipVersion) {
    throw new ConfigError(`--host-addr ${hostAddr} and --vip ${vip} must be of the same IP version`);
  }
  if (hostAddr === vip) throw new ConfigError(`--host-addr must differ from --vip (both are ${vip})`);
  let natsServers: string[] | undefined;
  let logTarget = o.logTarget;
  if (logTarget?.startsWith('nats://')) {
    try {
      natsServers = parseNatsTarget(logTarget);
    } catch (err) {
      throw new ConfigError(`--log: ${(err as Error).message}`);
    }
    logTarget = undefined;
  } else if (o.logTarget !== undefined && o.dataDir !== undefined) {
    throw new ConfigError('--log and --data-dir exclude each other: --log names an external log server, --data-dir the embedded one');
  }
  const credentialFiles = { tokenFile: o.logTokenFile, tlsCa: o.logTlsCa, tlsCert: o.logTlsCert, tlsKey: o.logTlsKey, credsFile: o.logCreds };
  let logCredentials: LogCredentials | undefined;
  if (Object.values(credentialFiles).some((f) => f !== undefined)) {
    // A log on this host (embedded, or a unix socket) is guarded by file permissions instead.
    if (!o.log || (natsServers === undefined && (logTarget === undefined || logTarget.startsWith('unix:')))) {
      throw new ConfigError('--log-token-file, --log-tls-*, --log-creds are for a log on another host: they need --log HOST:PORT or --log nats://...');
    }
    try {
      logCredentials = readLogCredentials(credentialFiles, natsServers !== undefined ? 'nats' : 'logd');
    } catch (err) {
      if (err instanceof LogCredentialsError) throw new ConfigError(err.message);
      throw err;
    }
  }
  if (o.role === 'standby' && natsServers === undefined) {
    throw new ConfigError('a standby needs a replicated log: --log nats://HOST:PORT[,HOST:PORT...] (log.target = "nats://..." in a config file)');
  }
  return {
    name: o.name,
    vip,
    ipVersion,
    hostAddr,
    ports: [...new Set(o.port)],
    log: o.log,
    logTarget,
    natsServers: o.log ? natsServers : undefined,
    logCredentials,
    replicas: o.replicas,
    leaseMs: o.leaseMs,
    lanIf: o.lanIf,
    icmpNudge: o.icmpNudge,
    role: o.role,
    // Several ftcp "hosts" on one machine (FTCP_NODE, see instanceNames) keep their logs apart.
    dataDir: o.dataDir ?? (process.env.FTCP_NODE ? `/var/lib/ftcp/${process.env.FTCP_NODE}-${o.name}` : `/var/lib/ftcp/${o.name}`),
    durability: o.durability,
    maxReplayBytes: o.maxReplayBytes,
    // Protected services come back after a crash by default; a bare relay just ends.
    restart: o.restart ?? (o.log ? 'on-failure' : 'no'),
    mtu: o.mtu,
    busyPollUs: o.busyPollUs,
    vnetHdr: o.vnetHdr,
    command: o.command,
    metrics: o.metrics,
    nice: o.nice,
  };
}

/**
 * Names derived from the service name; the TUNs' kept short for IFNAMSIZ (15 characters). The app's
 * namespace name is machine-wide: where several ftcp "hosts" share one machine (the failover tests:
 * a primary and a standby of the same service, each in its own network namespace and FTCP_RUN_DIR),
 * FTCP_NODE (1-16 of a-z, 0-9) tells their namespaces apart.
 */
export function instanceNames(name: string, node = process.env.FTCP_NODE): { netns: string; outerTun: string; innerTun: string } {
  if (node !== undefined && node !== '' && !/^[a-z0-9]{1,16}$/.test(node)) {
    throw new ConfigError(`FTCP_NODE must be 1-16 characters of a-z and 0-9 (got ${JSON.stringify(node)})`);
  }
  const netns = node ? `ftcp-${node}-${name}` : `ftcp-${name}`;
  return { netns, outerTun: `ft-${name}`, innerTun: 'ftcp0' };
}
