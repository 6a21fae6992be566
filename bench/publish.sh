#!/bin/sh
# Copies the latest full run (build/bench) into bench/results/ and rewrites the
# figures section of docs/performance.md from it. Run after `make bench`;
# review the diff and commit it with the prose it may call for.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${BENCH_OUT:-$here/../build/bench}
doc=$here/../docs/performance.md

[ -f "$out/results.json" ] && [ -f "$out/chart.png" ] || {
	echo "publish: no full run in $out (make bench first)" >&2
	exit 1
}
mkdir -p "$here/results"
cp "$out/results.json" "$out/results.txt" "$out/chart.png" "$here/results/"

# Debian's interpreter, as the tests use: a python3 on PATH may be a slow version-manager shim.
python=/usr/bin/python3
"$python" - "$doc" "$("$python" "$here/report.py" --markdown "$out")" <<'PY'
import sys
path, figures = sys.argv[1], sys.argv[2]
begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
text = open(path).read()
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(head + begin + "\n" + figures + "\n" + end + tail)
PY
echo "publish: bench/results/ and docs/performance.md updated"
