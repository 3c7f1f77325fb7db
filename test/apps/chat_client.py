#!/usr/bin/env python3
"""Chat clients for examples/chat-server.mjs: CLIENTS connections join one after the other, then
each sends MESSAGES lines (a few per second, interleaved across clients) and reads everything.
Checks: every client receives every message exactly once, all clients see the same order, each
sender's messages in the order sent; no reset or EOF. Prints one JSON line; exit 1 on failure."""
import json, random, selectors, socket, sys, time

host, port = sys.argv[1], int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 5
messages = int(sys.argv[4]) if len(sys.argv) > 4 else 40
gap = float(sys.argv[5]) if len(sys.argv) > 5 else 0.05
deadline = time.time() + float(sys.argv[6] if len(sys.argv) > 6 else 90)

clients = []
for i in range(n):
    s = socket.create_connection((host, port), timeout=10)
    f = b''
    while b'\n' not in f:
        f += s.recv(4096)
    line, rest = f.split(b'\n', 1)
    nick = line.decode().removeprefix('* you are ')
    s.setblocking(False)
    clients.append({'i': i, 'sock': s, 'nick': nick, 'buf': rest, 'lines': [], 'sent': 0})

sel = selectors.DefaultSelector()
for c in clients:
    sel.register(c['sock'], selectors.EVENT_READ, c)
errors = []
total = n * messages
next_send = time.time()
order = [c for c in clients for _ in range(messages)]
random.Random(7).shuffle(order)
while time.time() < deadline:
    if order and time.time() >= next_send:
        c = order.pop()
        c['sock'].sendall(f'm{c["sent"]} from {c["nick"]}\n'.encode())
        c['sent'] += 1
        next_send = time.time() + gap
    for key, _ in sel.select(timeout=gap / 2):
        c = key.data
        try:
            data = c['sock'].recv(65536)
        except OSError as e:
            errors.append(f'{c["nick"]}: {e!r}')
            sel.unregister(c['sock'])
            continue
        if not data:
            errors.append(f'{c["nick"]}: unexpected EOF')
            sel.unregister(c['sock'])
            continue
        c['buf'] += data
        while b'\n' in c['buf']:
            line, c['buf'] = c['buf'].split(b'\n', 1)
            c['lines'].append(line.decode())
    if not order and all(len(c['lines']) >= total for c in clients):
        break
if errors:
    pass
elif any(len(c['lines']) != total for c in clients):
    errors.append('counts ' + str([len(c['lines']) for c in clients]) + f' want {total}')
else:
    ref = clients[0]['lines']
    for c in clients[1:]:
        if c['lines'] != ref:
            k = next(i for i, (a, b) in enumerate(zip(ref, c['lines'])) if a != b)
            errors.append(f'{c["nick"]} order differs at {k}: {c["lines"][k]!r} vs {ref[k]!r}')
    for c in clients:
        mine = [l for l in ref if l.startswith(c['nick'] + ': ')]
        want = [f'{c["nick"]}: m{k} from {c["nick"]}' for k in range(messages)]
        if mine != want:
            errors.append(f'{c["nick"]}: own messages out of order or missing')
    if len(set(ref)) != len(ref):
        errors.append('duplicated message')
print(json.dumps({'clients': n, 'lines': [len(c['lines']) for c in clients], 'errors': errors[:10]}))
sys.exit(1 if errors else 0)
