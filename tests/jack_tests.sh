#!/usr/bin/env bash
# `make test`'s JACK step. Each JACK test (`cargo test --features jack --test suite jack`) runs
# in a process of its own:
# - a crash inside libjack (it happens when a client meets a server that is still starting or
#   already gone) ends that test only, is reported by its name and tried again, instead of
#   killing the whole binary and hiding which test it was;
# - no test inherits another's threads, clients or environment.
# The tests measure timing and count messages through a real JACK server on whatever machine
# runs them; on a shared 2-core machine a server that misses cycles loses a message now and
# then, and a test that counts them fails though tms did nothing wrong. So a test that fails
# runs again, at most four more times; the step passes only if each then passes. Every retry
# is printed with the failure's tail, so a flaky test stays visible instead of hidden.
set -uo pipefail
filter=${1:-jack}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

cargo test --features jack --test suite --no-run || exit $?
list() { cargo test -q --features jack --test suite -- "$@" --list --format terse 2>/dev/null |
    sed -n 's/^\(.*\): test$/\1/p' | grep -F -- "$filter" | sort; }
mapfile -t tests < <(comm -23 <(list) <(list --ignored))
echo "== ${#tests[@]} JACK tests, each in its own process"

retried=0
for t in "${tests[@]}"; do
    for try in 0 1 2 3 4; do
        start=$SECONDS
        if RUST_BACKTRACE=0 cargo test -q --features jack --test suite -- --exact "$t" > "$log" 2>&1; then
            [ "$try" = 0 ] && echo "ok   $t ($((SECONDS - start)) s)" || echo "ok   $t on retry $try"
            break
        fi
        if [ "$try" = 4 ]; then
            tail -n 40 "$log"
            echo "== $t failed five times: not a lost message, a failure" >&2
            exit 1
        fi
        retried=$((retried + 1))
        echo "FAIL $t (try $((try + 1)) of 5); its last lines:"
        grep -v 'JackShm\|Cannot connect to server\|jack server is not running' "$log" |
            sed -n '/^---- /,/^failures:/p' | grep -v '^failures:' | tail -n 30 | sed 's/^/     /'
    done
done
echo "== all ${#tests[@]} JACK tests passed ($retried retries)"
