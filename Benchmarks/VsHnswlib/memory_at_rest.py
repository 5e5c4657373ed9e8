"""The server's memory with 100,000 × 384 vectors loaded, right after the build and at rest.

    Benchmarks/VsHnswlib/run.sh            # once, for the release build and .build/bench-venv
    .build/bench-venv/bin/python Benchmarks/VsHnswlib/memory_at_rest.py .build/release/fragrancedb

Starts a release server on loopback (no catalogue), loads the vectors over TCP in batches of 500
(binary form), prints the RSS right after, waits 15 s (the periodic index save finishes and gives
its pages back), then prints the RSS and INFO memory's breakdown in MB. Stops the server.
"""
import base64, socket, subprocess, sys, time, os, json, tempfile
import numpy as np
BIN = sys.argv[1]
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
tcp, http = free(), free()
d = tempfile.mkdtemp()
p = subprocess.Popen([BIN, "serve", "--data", d, "--port", str(tcp), "--http-port", str(http)],
                     env=dict(os.environ, FRAGRANCEDB_CATALOGUE_LOAD="false", FRAGRANCEDB_LOG_LEVEL="error"), stdout=subprocess.DEVNULL)
for _ in range(100):
    try: s = socket.create_connection(("127.0.0.1", tcp)); break
    except OSError: time.sleep(0.1)
f = s.makefile("rb")
def call(line):
    s.sendall((line + "\r\n").encode())
    first = f.readline(); out = [first]
    if first.startswith(b"*"):
        out += [f.readline() for _ in range(int(first[1:]))]
    return out
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) // 1024
rng = np.random.default_rng(1)
X = rng.normal(size=(100000, 384)).astype(np.float32)
call('CREATE bench {"dimension": 384}')
for b in range(0, 100000, 500):
    rows = ",".join('{"id":"%d","vector":"b64:%s"}' % (i, base64.b64encode(X[i].tobytes()).decode()) for i in range(b, b + 500))
    call("UPSERT bench [" + rows + "]")
print("after build RSS MB", rss())
time.sleep(15)
m = json.loads(call("INFO memory")[1])["memory"]
print("at rest RSS MB", rss(), {k: (round(v / 1e6, 1) if isinstance(v, int) else v) for k, v in m.items() if k != "per_vector"})
p.terminate(); p.wait()
