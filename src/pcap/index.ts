export * from './link.js';
export * from './pcapng-writer.js';
export * from './reader.js';
