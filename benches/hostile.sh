#!/usr/bin/env bash
# Hostile input: what tms's memory does with the size of what it reads. For scripts of
# 1, 4 and 16 MB (16 MB is the limit, fsio::SCRIPT_LIMIT), of two shapes, it prints the peak
# resident memory of `tms check` and `tms run` above that of a one-line script, and the
# wall time. The bound to hold: peak - baseline <= 10 x size + 50 MB.
#
# Usage: bash benches/hostile.sh [TMS]   (default target/release/tms); run by `make bench`
# as BENCH_ONLY=hostile.
set -euo pipefail
cd "$(dirname "$0")/.."
TMS=${1:-target/release/tms}
PY=${PYTHON:-python3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# peak RSS (KB) and seconds of one whole process, from a parent that runs nothing else
peak() {
    "$PY" -c '
import resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "%.2f" % (time.monotonic() - t), r.returncode)
' "$@"
}

printf 'seed 1\n' > "$dir/one.tms"
read -r base _ _ < <(peak "$TMS" check "$dir/one.tms")
echo "baseline (tms check of one line): $((base / 1024)) MB"
printf '%-34s %8s %14s %9s %14s %9s\n' "script" "MB" "check +MB" "check s" "run +MB" "run s"
for mb in 1 4 16; do
    bytes=$((mb * 1024 * 1024 - 64))
    # one line of short commands (the worst case for tokens per byte), and one command a line
    "$PY" -c "import sys; open(sys.argv[1],'w').write('seed 1;' * ($bytes // 7))" "$dir/line.tms"
    "$PY" -c "import sys; open(sys.argv[1],'w').write('set temperature 0.9\n' * ($bytes // 20))" "$dir/lines.tms"
    for shape in line lines; do
        f="$dir/$shape.tms"
        read -r ck cs cc < <(peak "$TMS" check "$f")
        read -r rk rs rc < <(peak "$TMS" run "$f")
        [ "$cc" = 0 ] && [ "$rc" = 0 ] || echo "warning: check exited $cc, run exited $rc"
        what=$([ $shape = line ] && echo '`seed 1;` x N on one line' || echo '`set temperature 0.9` a line')
        printf '%-34s %8s %14s %9s %14s %9s\n' "$what" "$mb" \
            "$(( (ck - base) / 1024 ))" "$cs" "$(( (rk - base) / 1024 ))" "$rs"
    done
done
# Over the limit: refused before a byte is read.
truncate -s 600M "$dir/huge.tms"
read -r hk hs hc < <(peak "$TMS" check "$dir/huge.tms")
echo "600 MB (sparse) script: exit $hc in $hs s, +$(( (hk - base) / 1024 )) MB"
