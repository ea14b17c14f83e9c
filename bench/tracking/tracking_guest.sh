# Guest side of the tracking benchmark (booted by bench/tracking/run.sh through the kernel
# test harness; not a test). brd, O_DIRECT writes: 4 KiB random and 1 MiB sequential,
# tracking off vs BITMAP vs DATA, interleaved rounds, medians. Prints "BENCH-JSON: {...}".
# run.sh may prepend BENCH_* settings and extra module builds ("variants", e.g. the
# module of an older commit as /usr/bin/cbtrep-base.ko) so they are measured in the same
# boot, interleaved with the working tree's module.
# @bins: tools/ctl/cbtrep-ctl bench/tracking/cbtrep-bench-writer bench/tracking/cbtrep-bench-drain
# @timeout: 1800

SECS=${BENCH_SECS:-4}
ROUNDS=${BENCH_ROUNDS:-3}
WORKLOADS=${BENCH_WORKLOADS:-rand4k seq1m}
DRAIN_MAX=${BENCH_DRAIN_MAX:-256} # records per GET
VARIANTS=${BENCH_VARIANTS:-} # names of /usr/bin/cbtrep-NAME.ko, besides the tree's module
modprobe brd rd_nr=1 rd_size=262144
dd if=/dev/zero of=/dev/ram0 bs=1M count=256 oflag=direct 2>/dev/null # populate pages
: >/tmp/results

use_module() { # tree | VARIANT
	if grep -q '^cbtrep ' /proc/modules; then rmmod cbtrep; fi
	if [ "$1" = tree ]; then
		load_cbtrep
	else
		check "insmod cbtrep-$1.ko" insmod "/usr/bin/cbtrep-$1.ko"
	fi
}

field() { # JSON KEY
	echo "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

run() { # CONFIG VARIANT WORKLOAD ROUND
	dstat=
	case $1 in
	off) ;;
	bitmap) cbtrep-ctl attach b /dev/ram0 --meta-only --cap 65536 >/dev/null ;; # stays BITMAP
	data)
		cbtrep-ctl attach b /dev/ram0 --cap 134217728 >/dev/null
		rm -f /tmp/stop
		cbtrep-bench-drain b /tmp/stop "$DRAIN_MAX" >/tmp/drain.out &
		;;
	esac
	[ "$1" = bitmap ] && cbtrep-bench-writer /dev/ram0 rand4k 1 >/dev/null # reach BITMAP
	r=$(cbtrep-bench-writer /dev/ram0 "$3" "$SECS")
	name=$1
	extra=
	if [ "$1" != off ]; then
		[ "$2" = tree ] || name=$1@$2
		st=$(cbtrep-ctl status b --json)
		mode=$(echo "$st" | sed 's/.*"mode":"\([a-z]*\)".*/\1/')
		calls=$(field "$st" hook_calls)
		sub=$(awk -v n="$(field "$st" hook_ns)" -v c="$calls" 'BEGIN { printf "%.0f", c ? n / c : 0 }')
		extra="submit_ns $sub mode_changes $(field "$st" mode_changes) dropped $(field "$st" records_dropped)"
		if [ "$1" = data ]; then
			touch /tmp/stop
			wait || echo "drain failed: $(cat /tmp/drain.out)"
			dstat=$(cat /tmp/drain.out)
		fi
		cbtrep-ctl detach b >/dev/null
		# The module's own completion-side figure, logged at detach (not by old builds).
		comp=$(dmesg | sed -n 's/.* b: per bio: .* complete \([0-9]*\) ns.*/\1/p' | tail -n1)
		[ -n "$comp" ] && extra="$extra complete_ns $comp"
		dmesg -c >/dev/null
	else
		mode=off
	fi
	echo "$name $3 $4 $r mode_at_end $mode $extra $dstat" | tee -a /tmp/results
}

configs=off
set -- tree $VARIANTS
nv=$#
for round in $(seq "$ROUNDS"); do
	# Rotate the module order every round so no build always runs first.
	order=
	i=0
	for v in tree $VARIANTS; do
		order="$order $(eval echo "\${$(((i + round) % nv + 1))}")"
		i=$((i + 1))
	done
	for v in $order; do
		use_module "$v"
		for w in $WORKLOADS; do
			# An "off" run next to each module's tracked runs: the host's load drifts by
			# 2x within a minute here, so each overhead is taken against its neighbour.
			run off "$v" "$w" "$round"
			pair_off=$(tail -n1 /tmp/results | awk '{ for (i = 4; i < NF; i++) if ($i == "iops") print $(i + 1) }')
			for c in bitmap data; do
				run $c "$v" "$w" "$round"
				tail -n1 /tmp/results | awk -v o="$pair_off" '{ for (i = 4; i < NF; i++) if ($i == "iops") printf "%.1f\n", (o - $(i + 1)) / o * 100 }' >/tmp/pct
				sed -i "\$s/\$/ paired_overhead_pct $(cat /tmp/pct)/" /tmp/results
				echo "  paired_overhead_pct $(cat /tmp/pct)"
			done
		done
	done
done
for v in tree $VARIANTS; do
	for c in bitmap data; do
		if [ $v = tree ]; then configs="$configs $c"; else configs="$configs $c@$v"; fi
	done
done

# Medians per (config, workload) of any numeric field ("off" pools every module's off runs).
med() { # CONFIG WORKLOAD FIELD
	awk -v c="$1" -v w="$2" -v f="$3" '$1 == c && $2 == w { for (i = 4; i < NF; i++) if ($i == f) print $(i + 1) }' /tmp/results |
		sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; else print "null" }'
}
json="{\"bench\":\"tracking\",\"kernel\":\"$CBTREP_RELEASE\",\"rounds\":$ROUNDS,\"seconds\":$SECS"
for w in $WORKLOADS; do
	for c in $configs; do
		k=${w}_$(echo "$c" | tr @ _)
		json="$json,\"${k}_iops\":$(med "$c" "$w" iops),\"${k}_p50_us\":$(med "$c" "$w" p50_us),\"${k}_p99_us\":$(med "$c" "$w" p99_us)"
		[ "$c" = off ] && continue
		json="$json,\"${k}_submit_ns\":$(med "$c" "$w" submit_ns),\"${k}_complete_ns\":$(med "$c" "$w" complete_ns)"
		# DATA runs that never left DATA (the others measured a mix of modes).
		if [ "${c%@*}" = data ]; then
			n=$(awk -v c="$c" -v w="$w" '$1 == c && $2 == w && / mode_changes 0 / && / mode_at_end data /' /tmp/results | wc -l)
			json="$json,\"${k}_runs_all_data\":$n"
		fi
		# Median of the per-round overheads against the adjacent "off" run.
		pct=$(med "$c" "$w" paired_overhead_pct)
		key=overhead_$(echo "$c" | tr @ _)_pct
		[ "$w" = seq1m ] && key=seq1m_$key
		json="$json,\"$key\":$pct"
	done
done
echo "BENCH-JSON: $json}"
if grep -q '^cbtrep ' /proc/modules; then rmmod cbtrep; fi
