# shellcheck shell=bash
# Helpers of the recovery-point tests (sourced after lib.sh):
#   CBTREP                 the cbtrep command
#   points_json            `cbtrep points list vm1 --json` for the test's target.json
#   point_ids              the ids of the retained points, oldest first, one a line
#   point_seq ID           the seq the point stands for (the replica after that seq)
#   expected_sha SEQ       sha256 of the source at SEQ (rebuilt from the stream s.str)
#   vm1_history MIB GEN-ARGS...  certificates, a generated history s.str of a MIB MiB device
#                          (expected.img: the source at its end; GEN-ARGS go to
#                          `cbtrep-stream-gen gen`) and target.json with replica vm1 for engine1
CBTREP=$BUILD/tools/cbtrep/cbtrep
[ -x "$CBTREP" ] || { echo "$TEST_NAME: missing $CBTREP (build first)" >&2; exit 1; }
requires jq

points_json() { "$CBTREP" points list vm1 --config "$WORK/target.json" --json; }
point_ids() { points_json | jq -r '.points[].id'; }
point_seq() { points_json | jq -r ".points[] | select(.id == $1) | .seq"; }
expected_sha() {
    "$GEN" apply --stream "$WORK/s.str" --out "$WORK/at-$1.img" --upto-seq "$1"
    sha "$WORK/at-$1.img"
    rm -f "$WORK/at-$1.img"
}

vm1_history() {
    local mib=$1
    shift
    setup_certs
    "$GEN" gen --out s.str --expected expected.img --device-mib "$mib" "$@" >/dev/null
    target_config vm1 vm1.img $((mib << 20)) engine1
}
