# Guest side of the tracking benchmark (booted by bench/tracking/run.sh through the kernel
# test harness; not a test). brd, O_DIRECT writes: 4 KiB random and 1 MiB sequential,
# tracking off vs BITMAP vs DATA, interleaved rounds, medians. Prints "BENCH-JSON: {...}".
# @bins: tools/ctl/cbtrep-ctl bench/tracking/cbtrep-bench-writer
# @timeout: 900

SECS=${BENCH_SECS:-4}
ROUNDS=${BENCH_ROUNDS:-3}
load_cbtrep
modprobe brd rd_nr=1 rd_size=262144
dd if=/dev/zero of=/dev/ram0 bs=1M count=256 oflag=direct 2>/dev/null # populate pages

run() { # CONFIG WORKLOAD ROUND
	case $1 in
	off) ;;
	bitmap) cbtrep-ctl attach b /dev/ram0 --meta-only --cap 65536 >/dev/null ;; # stays BITMAP
	data)
		cbtrep-ctl attach b /dev/ram0 --cap 134217728 >/dev/null
		rm -f /tmp/stop
		(while [ ! -e /tmp/stop ]; do cbtrep-ctl drain b /dev/null >/dev/null; sleep 0.05; done) &
		;;
	esac
	[ "$1" = bitmap ] && cbtrep-bench-writer /dev/ram0 rand4k 1 >/dev/null # reach BITMAP
	r=$(cbtrep-bench-writer /dev/ram0 "$2" "$SECS")
	if [ "$1" != off ]; then
		mode=$(cbtrep-ctl status b --json | sed 's/.*"mode":"\([a-z]*\)".*/\1/')
		touch /tmp/stop
		wait 2>/dev/null || true
		cbtrep-ctl detach b >/dev/null
	else
		mode=off
	fi
	echo "$1 $2 $3 $r mode_at_end $mode" | tee -a /tmp/results
}

for w in rand4k seq1m; do
	for round in $(seq "$ROUNDS"); do
		for c in off bitmap data; do
			run $c $w $round
		done
	done
done

# Medians per (config, workload) of iops and latency percentiles.
med() { # CONFIG WORKLOAD FIELD
	awk -v c="$1" -v w="$2" -v f="$3" '$1 == c && $2 == w { for (i = 4; i < NF; i++) if ($i == f) print $(i + 1) }' /tmp/results |
		sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
json="{\"bench\":\"tracking\",\"kernel\":\"$CBTREP_RELEASE\",\"rounds\":$ROUNDS,\"seconds\":$SECS"
for w in rand4k seq1m; do
	off=$(med off $w iops)
	for c in off bitmap data; do
		json="$json,\"${w}_${c}_iops\":$(med $c $w iops),\"${w}_${c}_p50_us\":$(med $c $w p50_us),\"${w}_${c}_p99_us\":$(med $c $w p99_us)"
	done
	for c in bitmap data; do
		pct=$(awk -v a="$off" -v b="$(med $c $w iops)" 'BEGIN { printf "%.1f", (a - b) / a * 100 }')
		key=overhead_${c}_pct
		[ $w = seq1m ] && key=seq1m_overhead_${c}_pct
		json="$json,\"$key\":$pct"
	done
done
echo "BENCH-JSON: $json}"
unload_cbtrep
