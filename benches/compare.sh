#!/usr/bin/env bash
# Paired whole-process speed comparison of `sim run` against the reference programs of
# ../shared/bench/ (issue 14): `rust-limit` (a minimal BinaryHeap + ChaCha8 event loop of exactly
# the ecmp-5k model) and, when Debian's libns3-dev is installed, the same model on ns-3.
#
#   benches/compare.sh                 # RUNS=7 rounds per workload, then the blog suite once
#   RUNS=3 SUITE=0 benches/compare.sh  # quicker, without the suite
#   LBSIM_BENCH_DIR=/path/to/bench benches/compare.sh
#   LBSIM_SIM=/path/to/sim benches/compare.sh   # time that binary, do not build one
#   LIVE=0 benches/compare.sh          # without the 1 M live connections run
#
# Each round runs every program once on the workload, alternating their order from round to
# round, so that drift of a shared machine hits all of them alike; a round is one pair (or
# triple). Printed: medians of wall and CPU (user + sys) seconds, the median of the per-round
# ratios lbsim / rust-limit, and the peak RSS (max over rounds). hyperfine is not used: it runs
# all the runs of one command before the next, which is not paired, and does not report RSS.
# The programs are used where they are, never copied into the project. A measurement, not a
# test: not run by CI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${LBSIM_BENCH_DIR:-$ROOT/../shared/bench}
RUNS=${RUNS:-7}
SUITE=${SUITE:-1}
LIVE=${LIVE:-1}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

if [ ! -f "$BENCH/rust-limit/Cargo.toml" ]; then
    echo "SKIPPED: benches/compare.sh: $BENCH/rust-limit is absent; set LBSIM_BENCH_DIR to the directory holding rust-limit/ (and ecmp_ns3_req.cc)"
    exit 0
fi
if [ ! -x /usr/bin/time ]; then
    echo "SKIPPED: benches/compare.sh: /usr/bin/time is absent (peak RSS); apt-get install time"
    exit 0
fi

echo "building rust-limit and sim (release) ..."
cargo build --quiet --release --manifest-path "$BENCH/rust-limit/Cargo.toml" \
    --target-dir "$TARGET/rust-limit"
LIMIT=$TARGET/rust-limit/release/rust-limit
SIM=${LBSIM_SIM:-$TARGET/release/sim}
[ -n "${LBSIM_SIM:-}" ] || cargo build --quiet --release --manifest-path "$ROOT/Cargo.toml" --bin sim

NS3=""
if [ -f "$BENCH/ecmp_ns3_req.cc" ] && command -v g++ > /dev/null \
    && pkg-config --exists ns3-core 2> /dev/null; then
    NS3=$TARGET/ecmp_ns3_req
    if [ ! -x "$NS3" ] || [ "$BENCH/ecmp_ns3_req.cc" -nt "$NS3" ]; then
        # shellcheck disable=SC2046 # pkg-config prints several flags
        g++ -O3 -o "$NS3" "$BENCH/ecmp_ns3_req.cc" $(pkg-config --cflags ns3-core) -lns3-core
    fi
    NS3_NOTE="ns-3 $(pkg-config --modversion ns3-core)"
else
    NS3_NOTE="ns-3 skipped: libns3-dev not installed (apt-get install -y libns3-dev pkg-config g++)"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "machine: $(nproc) cores, load average at start:$(uptime | sed 's/.*load average://')"
echo "rounds: $RUNS per workload; $NS3_NOTE"
# ecmp-5k-6000n is ecmp-5k's load over 6,000 nodes: its ratio over ecmp-5k's says how lbsim's
# cost grows with the node count beside the minimal loop's (ns-3's program has no node option).
WORKLOADS="ecmp-5k ecmp-500k-600n ecmp-5k-6000n"
for w in $WORKLOADS conns-1m; do
    echo "scenario $w sha256 $(sha256sum "$ROOT/scenarios/bench/$w.ron" | cut -d' ' -f1)"
done

# measure TOOL WORKLOAD ROUND CMD...: one whole-process run, appended to $WORK/data as
# "workload tool round wall_s cpu_s rss_kb".
measure() {
    local tool=$1 w=$2 i=$3
    shift 3
    local t0 t1
    t0=$(date +%s%N) # wall in ns: /usr/bin/time's %e has 10 ms steps, too coarse for ecmp-5k
    /usr/bin/time -f "%U %S %M" -o "$WORK/t" "$@" > "$WORK/out.$tool" 2> /dev/null
    t1=$(date +%s%N)
    read -r user sys rss < "$WORK/t"
    echo "$w $tool $i $(((t1 - t0) / 1000)) $user $sys $rss" \
        | awk '{print $1, $2, $3, $4 / 1e6, $5 + $6, $7}' >> "$WORK/data"
}

# The minimal loop's arguments for a workload.
limit_args() {
    case $1 in
        ecmp-5k-6000n) echo --clients 10 --rate 500 --nodes 6000 --secs 60 ;;
        *) echo "$1" ;;
    esac
}

for w in $WORKLOADS; do
    tools=(limit sim)
    [ -n "$NS3" ] && [ "$w" != ecmp-5k-6000n ] && tools+=(ns3)
    for ((i = 1; i <= RUNS; i++)); do
        order=("${tools[@]}")
        if ((i % 2 == 0)); then # reverse the order every other round
            order=()
            for ((k = ${#tools[@]} - 1; k >= 0; k--)); do order+=("${tools[k]}"); done
        fi
        for t in "${order[@]}"; do
            case $t in
                # shellcheck disable=SC2046 # several arguments
                limit) measure limit "$w" "$i" "$LIMIT" $(limit_args "$w") ;;
                sim) measure sim "$w" "$i" "$SIM" run "$ROOT/scenarios/bench/$w.ron" ;;
                ns3) measure ns3 "$w" "$i" "$NS3" "$w" ;;
            esac
        done
    done
    grep -o '"generated":[0-9]*' "$WORK/out.limit" | cut -d: -f2 > "$WORK/req.$w.limit"
done

# Medians per workload and tool, and the median of the per-round ratios tool / limit.
echo
awk '
function median(a, n,    i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ wall[$1, $2, $3] = $4; cpu[$1, $2, $3] = $5; if ($6 > rss[$1, $2]) rss[$1, $2] = $6
  rounds[$1] = $3 > rounds[$1] ? $3 : rounds[$1]; seen[$1, $2] = 1 }
END {
    nw = split(workloads, ws, " "); split("limit sim ns3", ts, " ")
    name["limit"] = "rust-limit"; name["sim"] = "lbsim"; name["ns3"] = "ns-3"
    printf "%-15s %-10s %9s %9s %12s %12s %9s\n", "workload", "program", "wall s", "cpu s", "wall ratio", "cpu ratio", "peak RSS"
    for (wi = 1; wi <= nw; wi++) for (ti = 1; ti <= 3; ti++) {
        w = ws[wi]; t = ts[ti]; if (!((w, t) in seen)) continue
        n = rounds[w]
        for (i = 1; i <= n; i++) { a[i] = wall[w, t, i]; b[i] = cpu[w, t, i]
            r[i] = wall[w, t, i] / wall[w, "limit", i]; q[i] = cpu[w, t, i] / cpu[w, "limit", i] }
        printf "%-15s %-10s %9.3f %9.3f %11.2fx %11.2fx %6.1f MiB\n", w, name[t], median(a, n), median(b, n), median(r, n), median(q, n), rss[w, t] / 1024
        if (t == "sim") { wr[w] = median(r, n); cr[w] = median(q, n) }
    }
    if (("ecmp-5k-6000n", "sim") in seen)
        printf "nodes: lbsim/limit ratio at 6,000 nodes over that at 6 (ecmp-5k-6000n / ecmp-5k): wall %.2fx, cpu %.2fx (target <= 1.2x)\n", wr["ecmp-5k-6000n"] / wr["ecmp-5k"], cr["ecmp-5k-6000n"] / cr["ecmp-5k"]
}' workloads="$WORKLOADS" "$WORK/data"

if [ "$LIVE" = 1 ]; then
    # 1 M keep-alive connections open at once and a route change that re-evaluates them all
    # (no reference program models it): lbsim's own peak RSS and time, once.
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/t" "$SIM" run "$ROOT/scenarios/bench/conns-1m.ron" \
        --out "$WORK/conns-1m" > "$WORK/out.live" 2> /dev/null
    read -r wall user sys rss < "$WORK/t"
    live=$(awk -F, 'NR == 2 {print $7 " live, " $8 " moved"}' "$WORK/conns-1m/changes.csv")
    echo
    echo "conns-1m (1 M keep-alive connections, one route change: $live): wall $wall s, cpu $(echo "$user $sys" | awk '{print $1 + $2}') s, peak RSS $((rss / 1024)) MiB"
fi

if [ "$SUITE" = 1 ]; then
    # The blog suite once, against the minimal loop's CPU per request on ecmp-5k measured above.
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/t" "$SIM" suite "$ROOT/scenarios/blog" \
        > "$WORK/out.suite" 2> /dev/null
    read -r wall user sys rss < "$WORK/t"
    reqs=$(grep -o '[0-9]* requests in' "$WORK/out.suite" | tail -1 | cut -d' ' -f1)
    limit_cpu=$(awk '$1 == "ecmp-5k" && $2 == "limit" {print $5}' "$WORK/data" | sort -g \
        | awk '{a[NR] = $1} END {print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
    limit_req=$(cat "$WORK/req.ecmp-5k.limit")
    echo
    echo "blog suite (sim suite scenarios/blog): wall $wall s, cpu $(echo "$user $sys" | awk '{print $1 + $2}') s, $reqs requests, peak RSS $((rss / 1024)) MiB"
    echo "$user $sys $reqs $limit_cpu $limit_req" | awk '{printf "suite cpu per request / rust-limit cpu per request (ecmp-5k): %.2fx\n", (($1 + $2) / $3) / ($4 / $5)}'
fi
echo "load average at end:$(uptime | sed 's/.*load average://')"
