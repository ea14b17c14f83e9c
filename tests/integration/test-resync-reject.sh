#!/usr/bin/env bash
# The target side of a remote resync refuses malformed or dishonest resync traffic before
# it touches the replica: a wrong extent digest, an extent past the end, data in a verify
# session, requests out of order or past the end, a bad geometry and an unknown frame type
# each end the connection with an ERROR naming the reason, the replica stays byte-for-byte
# the same, and the target keeps serving (a real verify afterwards succeeds).
# The client is a small Python TLS client that crafts frames by hand (include/cbtrep/wire.h).
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/resync_lib.sh"

serve_replica_copy 8
before=$(sha "$REPLICA")

cat >"$WORK/evil.py" <<'PY'
import socket, ssl, struct, sys

work, port, size, case = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def frame(ftype, body, payload=b"", version=1):
    h = struct.pack("<IHHIIQI", 0x57544243, version, ftype, len(body), len(payload), 0,
                    crc32c(body))
    return h + struct.pack("<I", crc32c(h)) + body + payload

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf

def recv_frame(s):
    h = recv_exact(s, 32)
    _, _, ftype, blen, plen = struct.unpack("<IHHII", h[:16])
    body = recv_exact(s, blen)
    recv_exact(s, plen)
    return ftype, body

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_verify_locations(f"{work}/certs/ca.pem")
ctx.load_cert_chain(f"{work}/certs/engine1.pem", f"{work}/certs/engine1.key")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")

hello = struct.pack("<HHI32s16sQII16s32s4Q", 1, 1, 0, b"disk0", b"\0" * 16, size, 4096, 0,
                    b"\0" * 16, b"evil", 0, 0, 0, 0)
s.sendall(frame(1, hello))
t, _ = recv_frame(s)
assert t == 2, f"expected HELLO_OK, got {t}"

def rs_begin(leaf=4096, flags=0, dev=size):
    return frame(11, struct.pack("<QIIHHIQQQ", 1 << 20, 65536, leaf, 1, 0, flags, dev, 0, 0))

def extent(offset, length, payload, digest=b"\0" * 16, enc=1):
    body = struct.pack("<QQHHIQ16sII", offset, length, enc, 0, len(payload), 0, digest, 0, 0)
    return frame(5, body, payload)

def hash_req(req_id, region, kind=1):
    return frame(13, struct.pack("<QQHHI", req_id, region, kind, 0, 0))

msgs = []
if case == "bad-digest":
    msgs = [rs_begin(), extent(0, 4096, b"x" * 4096)]
elif case == "out-of-bounds":
    msgs = [rs_begin(), extent(size, 4096, b"x" * 4096)]
elif case == "data-in-verify":
    msgs = [rs_begin(flags=1), extent(0, 4096, b"x" * 4096)]
elif case == "request-order":
    msgs = [rs_begin(), hash_req(2, 0)]
elif case == "region-past-end":
    msgs = [rs_begin(), hash_req(1, size >> 20)]
elif case == "bad-geometry":
    msgs = [rs_begin(leaf=256)]
elif case == "unknown-type":
    msgs = [rs_begin(), frame(17, b"\0" * 16)]
else:
    sys.exit(f"unknown case {case}")
for m in msgs:
    s.sendall(m)
while True:
    try:
        t, body = recv_frame(s)
    except (EOFError, ConnectionError, ssl.SSLError) as e:
        sys.exit(f"connection ended without an ERROR frame: {e}")
    if t == 3:
        code, flags = struct.unpack("<II", body[:8])
        msg = body[16:].split(b"\0")[0].decode()
        print(f"{code} {msg}")
        sys.exit(0)
PY

expect() { # CASE CODE TEXT
    local out
    out=$(python3 "$WORK/evil.py" "$WORK" "$PORT" "$SIZE" "$1") || fail "$1: $out"
    [ "${out%% *}" = "$2" ] || fail "$1: error code ${out%% *}, expected $2 ($out)"
    grep -qi -- "$3" <<<"$out" || fail "$1: message '$out' does not mention '$3'"
    [ "$(sha "$REPLICA")" = "$before" ] || fail "$1: replica modified"
    log "$1: refused with code $2 ($out)"
}
expect bad-digest 13 "digest"
expect out-of-bounds 1 "past the replica"
expect data-in-verify 1 "verify"
expect request-order 1 "expected 1"
expect region-past-end 1 "past the end"
expect bad-geometry 1 "resync region, block or leaf size"
expect unknown-type 1 "type"

"$CBTREP" verify "$WORK/orig.img" --target "127.0.0.1:$PORT/disk0" --ca "$WORK/certs/ca.pem" \
    --cert "$WORK/certs/engine1.pem" --key "$WORK/certs/engine1.key" --server-name localhost \
    >/dev/null 2>"$WORK/err" || fail "verify after the attacks: exit $?: $(cat "$WORK/err")"
stop_target
pass
