import { describe, expect, it } from 'vitest';
import { parseListeningPorts } from '../../../src/run/listen-probe.js';

describe('parseListeningPorts', () => {
  it('reads LISTEN rows of /proc/net/tcp and tcp6', () => {
    const tcp = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
      '   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1',
    ].join('\n');
    const tcp6 = [
      '  sl  local_address                         remote_address                        st',
      '   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 0',
    ].join('\n');
    expect([...parseListeningPorts(tcp)]).toEqual([8080]);
    expect([...parseListeningPorts(tcp6)]).toEqual([443]);
  });

  it('ignores garbage', () => {
    expect(parseListeningPorts('').size).toBe(0);
    expect(parseListeningPorts('header\nnot a row\n').size).toBe(0);
  });
});
