#!/usr/bin/env python3
"""Key-value load client for examples/kv-server.mjs: CONNS connections, each doing INCR on its own
key and on a shared key, then GET of its own key, for DURATION seconds; every answer is checked.
Own-key counts must be exactly 1, 2, 3, ...; the shared counter must only increase on every
connection. Prints one JSON line; exit 1 on any wrong answer, reset, error or stall."""
import json, selectors, socket, sys, time

host, port = sys.argv[1], int(sys.argv[2])
conns_n = int(sys.argv[3]) if len(sys.argv) > 3 else 50
duration = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
stall_limit = float(sys.argv[5]) if len(sys.argv) > 5 else 20.0
prefix = sys.argv[6] if len(sys.argv) > 6 else 'c'

sel = selectors.DefaultSelector()
state = {}
for i in range(conns_n):
    s = socket.create_connection((host, port), timeout=10)
    s.setblocking(False)
    st = {'i': i, 'sock': s, 'own': 0, 'shared': 0, 'buf': b'', 'expect': [], 'done': 0, 'last': time.time()}
    state[s.fileno()] = st
    sel.register(s, selectors.EVENT_READ, st)

def send_round(st):
    k = f'{prefix}{st["i"]}'
    st['sock'].sendall(f'INCR {k}\nINCR {prefix}shared\nGET {k}\n'.encode())
    st['expect'] += [('own', st['own'] + 1), ('shared', None), ('get', st['own'] + 1)]

errors = []
for st in state.values():
    send_round(st)
start = time.time()
answers = 0
max_gap = 0.0
while True:
    now = time.time()
    active = [st for st in state.values() if st['expect']]
    if not active:
        if now - start >= duration:
            break
    for key, _ in sel.select(timeout=0.5):
        st = key.data
        try:
            data = st['sock'].recv(65536)
        except (ConnectionResetError, OSError) as e:
            errors.append(f'conn {st["i"]}: {e!r}')
            sel.unregister(st['sock'])
            st['expect'] = []
            continue
        if not data:
            errors.append(f'conn {st["i"]}: unexpected EOF')
            sel.unregister(st['sock'])
            st['expect'] = []
            continue
        t = time.time()
        max_gap = max(max_gap, t - st['last'])
        st['last'] = t
        st['buf'] += data
        while b'\n' in st['buf'] and st['expect']:
            line, st['buf'] = st['buf'].split(b'\n', 1)
            kind, want = st['expect'].pop(0)
            answers += 1
            try:
                got = int(line)
            except ValueError:
                errors.append(f'conn {st["i"]}: non-numeric answer {line!r} to {kind}')
                continue
            if kind == 'own':
                if got != want:
                    errors.append(f'conn {st["i"]}: INCR own = {got}, want {want}')
                st['own'] = got
            elif kind == 'shared':
                if got <= st['shared']:
                    errors.append(f'conn {st["i"]}: shared counter went from {st["shared"]} to {got}')
                st['shared'] = got
            elif got != want:
                errors.append(f'conn {st["i"]}: GET own = {got}, want {want}')
        if not st['expect'] and time.time() - start < duration:
            send_round(st)
    for st in state.values():
        if st['expect'] and time.time() - st['last'] > stall_limit:
            errors.append(f'conn {st["i"]}: no answer for {stall_limit}s')
            st['expect'] = []
    if errors and len(errors) > 20:
        break
for st in state.values():
    try:
        st['sock'].close()
    except OSError:
        pass
print(json.dumps({'answers': answers, 'rounds': sum(st['own'] for st in state.values()), 'errors': errors[:20],
                  'max_gap_s': round(max_gap, 3)}))
sys.exit(1 if errors else 0)
