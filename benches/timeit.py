#!/usr/bin/env python3
"""Times whole commands side by side: N runs each after one warm-up, alternating A B A B,
and prints min/median/max wall seconds and the median ratio. Standard library only.

usage: timeit.py -n 5 'COMMAND A' 'COMMAND B' ...
"""
import statistics
import subprocess
import sys
import time


def main():
    args = sys.argv[1:]
    n = 5
    if args[:1] == ["-n"]:
        n, args = int(args[1]), args[2:]
    cmds = args
    times = {c: [] for c in cmds}
    for c in cmds:  # warm-up: page cache, imports
        subprocess.run(c, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(n):
        for c in cmds:
            t0 = time.perf_counter()
            r = subprocess.run(c, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            times[c].append(time.perf_counter() - t0)
            if r.returncode != 0:
                sys.exit(f"failed ({r.returncode}): {c}\n{r.stderr.decode()}")
    medians = []
    for c in cmds:
        t = sorted(times[c])
        med = statistics.median(t)
        medians.append(med)
        print(f"  {med:8.3f} s median  (min {t[0]:.3f}, max {t[-1]:.3f}, {n} runs)  {c}")
    if len(cmds) == 2:
        print(f"  ratio of medians: {medians[1] / medians[0]:.1f}x")


if __name__ == "__main__":
    main()
