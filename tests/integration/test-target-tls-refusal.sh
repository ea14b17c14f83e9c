#!/usr/bin/env bash
# Refusals before any byte is applied: wrong CA, expired client certificate, plaintext
# clients (raw TCP bytes, and TLS without a client certificate), TLS 1.2, a client name
# not allowed for the replica, a server name that does not match the target's certificate,
# an unknown replica and a source device identity that differs from the one the replica is
# bound to. Each must fail with a clear message on the client side (fatal: exit 3) and in
# the target log, and leave the replica byte-identical.
source "$(dirname "$0")/lib.sh"
requires sha256sum openssl timeout

setup_certs
"$GEN" gen --out s.str --expected expected.img --device-mib 8 --batches 10 --max-write-kib 64 >/dev/null
target_config vm1 vm1.img $((8 << 20)) engine1
start_target
wi replay --replica vm1 --stream s.str --device-id 11111111111111111111111111111111 >/dev/null ||
    fail "initial replay failed"
ref=$(sha vm1.img)
seq0=$(applied_seq vm1)

# expect_refused NAME TARGET_LOG_PATTERN CLIENT_PATTERN CMD...: runs CMD, which must exit 3
# (fatal) with CLIENT_PATTERN on stderr, and the target log must gain TARGET_LOG_PATTERN.
expect_refused() {
    local name=$1 tpat=$2 cpat=$3; shift 3
    local lines rc=0
    lines=$(wc -l <target.log)
    "$@" >"$name.out" 2>"$name.err" || rc=$?
    [ "$rc" = 3 ] || fail "$name: client exit code $rc, expected 3 (fatal); stderr: $(cat "$name.err")"
    grep -Eqi "$cpat" "$name.err" || fail "$name: client message lacks /$cpat/: $(cat "$name.err")"
    log_since "$lines" "$tpat" || fail "$name: target log lacks /$tpat/"
    log "$name refused: $(head -c 300 "$name.err")"
}

# A second, unrelated CA with a client named like the allowed one.
"$CERTS_TOOL" init --dir rogue --client engine1 >/dev/null
expect_refused wrong-ca "refused .*(certificate verify failed|unknown ca)" "alert|unknown ca|certificate" \
    "$INJECT" status --connect "127.0.0.1:$PORT" --ca certs/ca.pem --cert rogue/engine1.pem \
    --key rogue/engine1.key --replica vm1

"$CERTS_TOOL" issue --dir certs --client expired --not-before 20200101000000Z \
    --not-after 20200201000000Z >/dev/null
expect_refused expired-cert "refused .*expired" "expired" \
    "$INJECT" status --connect "127.0.0.1:$PORT" --ca certs/ca.pem --cert certs/expired.pem \
    --key certs/expired.key --replica vm1

expect_refused not-allowed "not allowed for replica 'vm1'" "not allowed" \
    "$INJECT" status --connect "127.0.0.1:$PORT" --ca certs/ca.pem --cert certs/intruder.pem \
    --key certs/intruder.key --replica vm1

expect_refused unknown-replica "no replica named 'nope'" "unknown replica" \
    wi status --replica nope

expect_refused identity-mismatch "belongs to source device" "identity mismatch" \
    wi replay --replica vm1 --stream s.str --device-id 22222222222222222222222222222222

# The client checks the target's name: a certificate for localhost is not other.example.
lines=$(wc -l <target.log)
rc=0
wi status --replica vm1 --server-name other.example >name.out 2>name.err || rc=$?
[ "$rc" = 3 ] || fail "wrong server name: exit $rc, expected 3"
grep -qi "hostname mismatch\|certificate verify failed" name.err || fail "wrong server name: $(cat name.err)"
log "wrong-server-name refused: $(cat name.err)"

# Plaintext: raw bytes on the TLS port never reach a replica.
lines=$(wc -l <target.log)
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'CBTW plaintext HELLO vm1\r\n\r\n' >&3
reply=$(timeout 5 cat <&3 | head -c 200 | od -An -c | head -2 || true)
exec 3>&-
log_since "$lines" "refused 127.0.0.1" || fail "plaintext client not refused in the log"
log "plaintext refused (client got: ${reply:-nothing}); target says: $(tail -n +"$((lines + 1))" target.log | grep refused | head -1 | cut -c1-200)"

# TLS without a client certificate (openssl s_client).
lines=$(wc -l <target.log)
timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile certs/ca.pem -tls1_3 \
    </dev/null >s_client.out 2>&1 || true
log_since "$lines" "refused .*(did not return a certificate|certificate required)" ||
    fail "certificate-less TLS client not refused with a clear reason"
log "no-client-cert refused"

# TLS 1.2, even with a valid certificate.
lines=$(wc -l <target.log)
timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile certs/ca.pem -tls1_2 \
    -cert certs/engine1.pem -key certs/engine1.key </dev/null >tls12.out 2>&1 || true
log_since "$lines" "refused .*(unsupported protocol|version)" ||
    fail "TLS 1.2 client not refused"
log "tls1.2 refused"

[ "$(sha vm1.img)" = "$ref" ] || fail "replica changed during refused connections"
[ "$(applied_seq vm1)" = "$seq0" ] || fail "applied_seq changed during refused connections"
stop_target
pass
