#!/usr/bin/env bash
# Run every bundled scenario (scenarios/*.ron, scenarios/bench/*.ron, the sweeps' base
# scenarios) and the blog suite (one iteration) with a given `sim` binary, outputs under OUT:
# the byte-identity check of a speed change (docs/speed.md).
#
#   benches/bundled-outputs.sh OLD_SIM /tmp/before
#   benches/bundled-outputs.sh target/release/sim /tmp/after
#   benches/bundled-outputs.sh --diff /tmp/before /tmp/after   # silent and 0 when identical
#
# Each run's terminal output is kept as NAME.stdout without its wall-time and path lines (the
# only lines that differ from run to run).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" = "--diff" ]; then
    exec diff -r "$2" "$3"
fi
if [ $# -ne 2 ]; then
    echo "usage: $0 SIM OUT | $0 --diff OUT_A OUT_B" >&2
    exit 2
fi
sim=$1
out=$2
rm -rf "$out"
mkdir -p "$out"
keep() { grep -v -e ' wall' -e '^wrote ' > "$1" || true; }
for f in "$ROOT"/scenarios/*.ron "$ROOT"/scenarios/bench/*.ron "$ROOT"/scenarios/sweeps/*.ron; do
    case $f in *.sweep.ron) continue ;; esac
    n=$(basename "$f" .ron)
    # A scenario the binary refuses (one newer than it) is noted, not the end of the check.
    "$sim" run "$f" --out "$out/$n" 2> /dev/null | keep "$out/$n.stdout" \
        || echo "sim run failed" >> "$out/$n.stdout"
done
"$sim" suite "$ROOT/scenarios/blog" --iterations 1 --out "$out/blog" 2> /dev/null \
    | keep "$out/blog.stdout"
