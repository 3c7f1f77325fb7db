// TCP/IP wire library: packet views, representations, checksums, sequence arithmetic, builders.
export * from './addr.js';
export * from './builder.js';
export * from './checksum.js';
export * from './ipv4.js';
export * from './ipv6.js';
export * from './packet-parser.js';
export * from './seq.js';
export * from './tcp.js';
export * from './tcp-options.js';
export * from './icmp.js';
