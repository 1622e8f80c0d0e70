#!/bin/bash
# bmst_data download against a local HTTP server (http_server.py) serving
# small archives in each published layout: the happy path (CIFAR-10's Python
# release, Fashion-MNIST's .gz files, Flowers 102's tgz and .mat files), a
# wrong checksum, a cut transfer continued by the next run, a 404, an archive
# missing a member and one with a member that escapes. Every failure is one
# "error:" line; nothing wrong is left behind.
set -u
BMST_DATA=${BMST_DATA:?set BMST_DATA to the bmst_data executable}
PY=/usr/bin/python3
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK=$(mktemp -d /tmp/bmst_download_XXXXXX)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$WORK"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# --- the published layouts, made from the converter test's sources ----------
SRC=$WORK/src
$PY "$HERE/converters.py" make "$SRC" || { echo "FAIL: cannot make sources"; exit 1; }
SERVE=$WORK/serve
mkdir -p "$SERVE"
tar -czf "$SERVE/cifar-10-python.tar.gz" -C "$SRC/cifar10-py" cifar-10-batches-py
# the same archive without one batch, and one whose member climbs out
mkdir -p "$WORK/missing" && cp -r "$SRC/cifar10-py/cifar-10-batches-py" "$WORK/missing/"
rm "$WORK/missing/cifar-10-batches-py/data_batch_3"
tar -czf "$SERVE/missing.tar.gz" -C "$WORK/missing" cifar-10-batches-py
$PY - "$SERVE/escape.tar.gz" <<'PYEOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    info = tarfile.TarInfo("../escaped.txt")
    info.size = 3
    t.addfile(info, io.BytesIO(b"bad"))
PYEOF
for f in "$SRC"/fashion/*; do # the published files are all gzipped
    case $f in *.gz) cp "$f" "$SERVE/" ;; *) gzip -c "$f" >"$SERVE/$(basename "$f").gz" ;; esac
done
tar -czf "$SERVE/102flowers.tgz" -C "$SRC/flowers" jpg
cp "$SRC/flowers/imagelabels.mat" "$SRC/flowers/setid.mat" "$SERVE/"
md5() { md5sum "$SERVE/$1" | cut -c1-32; }

$PY "$HERE/http_server.py" "$SERVE" "$WORK/port" "$WORK/requests.log" &
server=$!
for _ in $(seq 100); do [ -f "$WORK/port" ] && break; sleep 0.1; done
[ -f "$WORK/port" ] || { echo "FAIL: the HTTP server did not start"; exit 1; }
URL="http://127.0.0.1:$(cat "$WORK/port")"

# run NAME DIR ARGS...: bmst_data download, its output in $WORK/out.txt, err.txt
run() { "$BMST_DATA" download "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"; }
# expect_error NAME PATTERN ARGS...: exit 1 and one error line matching PATTERN
expect_error() {
    local name=$1 pattern=$2
    shift 2
    run "$@"
    local rc=$?
    [ $rc -eq 1 ] && ok || bad "$name: exit $rc, expected 1"
    if [ "$(wc -l <"$WORK/err.txt")" -ne 1 ] || ! grep -qE -- "$pattern" "$WORK/err.txt"; then
        bad "$name: stderr $(cat "$WORK/err.txt")"
    else ok; fi
}
C10=(cifar10 --md5 "cifar-10-python.tar.gz=$(md5 cifar-10-python.tar.gz)")

# --- the happy paths ---------------------------------------------------------
mkdir "$WORK/a"
run "${C10[@]}" "$WORK/a" --mirror "$URL/ok/" && ok || bad "cifar10: $(cat "$WORK/err.txt")"
"$BMST_DATA" convert cifar10 "$SRC/cifar10" "$WORK/binary.h5" >/dev/null
$PY "$HERE/converters.py" same "$WORK/binary.h5" "$WORK/a/cifar10.h5" >/dev/null && ok ||
    bad "cifar10 downloaded differs from the binary release's file"
# a second run finds the archive whole and fetches nothing
: >"$WORK/requests.log"
run "${C10[@]}" "$WORK/a" --mirror "$URL/ok" && ok || bad "cifar10 again: $(cat "$WORK/err.txt")"
[ ! -s "$WORK/requests.log" ] && ok || bad "a whole archive was fetched again: $(cat "$WORK/requests.log")"

FM=(fashion-mnist)
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    FM+=(--md5 "$f=$(md5 $f)")
done
run "${FM[@]}" "$WORK/a" --mirror "$URL/ok/" --val-fraction 0.25 && ok || bad "fashion-mnist: $(cat "$WORK/err.txt")"
grep -q '^val: *[1-9]' "$WORK/out.txt" && ok || bad "fashion-mnist: the convert option did not apply"
run flowers102 "$WORK/a" --mirror "$URL/ok/" --size 16 --md5 "102flowers.tgz=$(md5 102flowers.tgz)" \
    --md5 "imagelabels.mat=$(md5 imagelabels.mat)" --md5 "setid.mat=$(md5 setid.mat)" && ok ||
    bad "flowers102: $(cat "$WORK/err.txt")"
$PY "$HERE/converters.py" check flowers102 "$SRC" "$WORK/a/flowers102.h5" >/dev/null && ok ||
    bad "flowers102 downloaded differs from its sources"

# --- failures ----------------------------------------------------------------
mkdir "$WORK/b"
expect_error "wrong checksum" "checksum mismatch: MD5 [0-9a-f]{32}, published 0{32} \(the download is removed\)" \
    cifar10 "$WORK/b" --mirror "$URL/ok/" --md5 "cifar-10-python.tar.gz=$(printf '0%.0s' $(seq 32))"
[ ! -e "$WORK/b/cifar10-download/cifar-10-python.tar.gz.part" ] && [ ! -e "$WORK/b/cifar10.h5" ] && ok ||
    bad "wrong checksum: files left behind"
expect_error "404" "404" "${C10[@]}" "$WORK/b" --mirror "$URL/nothing/"
expect_error "cut transfer" "the part fetched is kept; the next run continues it" \
    "${C10[@]}" "$WORK/b" --mirror "$URL/cut/"
part=$WORK/b/cifar10-download/cifar-10-python.tar.gz.part
have=$(stat -c %s "$part" 2>/dev/null || echo 0)
[ "$have" -gt 0 ] && ok || bad "cut transfer: no part kept"
: >"$WORK/requests.log"
run "${C10[@]}" "$WORK/b" --mirror "$URL/ok/" && ok || bad "continued: $(cat "$WORK/err.txt")"
grep -q "^/ok/cifar-10-python.tar.gz bytes=$have-$" "$WORK/requests.log" && ok ||
    bad "the next run did not continue from byte $have: $(cat "$WORK/requests.log")"
$PY "$HERE/converters.py" same "$WORK/binary.h5" "$WORK/b/cifar10.h5" >/dev/null && ok ||
    bad "continued download differs"
mkdir "$WORK/c"
cp "$SERVE/missing.tar.gz" "$SERVE/cifar-10-python.tar.gz"
expect_error "missing member" "data_batch_3: No such file or directory" \
    cifar10 "$WORK/c" --mirror "$URL/ok/" --md5 "cifar-10-python.tar.gz=$(md5 missing.tar.gz)"
[ ! -e "$WORK/c/cifar10.h5" ] && ok || bad "missing member: output written"
mkdir "$WORK/d"
cp "$SERVE/escape.tar.gz" "$SERVE/cifar-10-python.tar.gz"
expect_error "escaping member" "member ../escaped.txt would land outside" \
    cifar10 "$WORK/d" --mirror "$URL/ok/" --md5 "cifar-10-python.tar.gz=$(md5 escape.tar.gz)"
[ ! -e "$WORK/escaped.txt" ] && ok || bad "an archive member landed outside"
expect_error "no stable archive" "miniImageNet has no archive at a stable public address" miniimagenet "$WORK/d"
"$BMST_DATA" download nothing "$WORK/d" >/dev/null 2>"$WORK/err.txt"
[ $? -eq 2 ] && grep -q "unknown dataset 'nothing' (known: cifar10, cifar100, fashion-mnist" "$WORK/err.txt" && ok ||
    bad "unknown dataset: $(cat "$WORK/err.txt")"
"$BMST_DATA" download cifar10 "$WORK/d" --md5 nonsense >/dev/null 2>"$WORK/err.txt"
[ $? -eq 2 ] && grep -q -- "--md5: 'nonsense' is not FILE=HEX" "$WORK/err.txt" && ok || bad "bad --md5: $(cat "$WORK/err.txt")"

echo "test_download: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
