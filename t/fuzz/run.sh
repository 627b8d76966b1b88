#!/usr/bin/env bash
#
# t/fuzz/run.sh [seconds] [harness...]
#
# Builds the libFuzzer harnesses of t/fuzz/ (clang, -fsanitize=fuzzer,
# address,undefined) into build/fuzz/ and runs each for the given seconds
# (default 60) on a fresh copy of its seed corpus, t/fuzz/corpus/NAME/;
# 0 seconds only builds.
# Harnesses: retry_after, http_date, json, sse, conf (default: all five;
# conf, the directives' arguments, links nginx's own objects and needs an
# nginx tree built from source: it is skipped, with a note, when there is
# none, unless named).
#
# Exits non-zero when a harness fails to build or finds a crash, a
# sanitizer report, a broken invariant or a timeout, and prints the
# reproducer's path and the command that replays it.  Installs nothing:
# it names what is missing.  It needs ./build.sh to have run once, for
# nginx's generated headers in build/objs.
#
# Environment: CC (default clang, then clang-14), FW_NGX_OBJS (default
# build/objs), FW_NGX_SRC (default /usr/share/nginx/src), FUZZ_ARGS
# (more libFuzzer flags, e.g. -jobs=2 or -runs=N); for conf,
# FW_CONF_OBJS and FW_CONF_SRC, an nginx build's objs/ and its source
# tree (default: the newest plain build in build.sh's cache, made by
# ./build.sh compat or NGINX_SRC=... ./build.sh test).

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$ROOT/build/fuzz
SRC=$ROOT/ngx_fireworks_module
OBJS=${FW_NGX_OBJS:-$ROOT/build/objs}
NGX=${FW_NGX_SRC:-/usr/share/nginx/src}

secs=${1:-60}
[ $# -gt 0 ] && shift
named=$*
harnesses=${*:-retry_after http_date json sse conf}

case "$secs" in
    ''|*[!0-9]*) echo "usage: $0 [seconds] [retry_after|http_date|json|sse|conf...]" >&2
                 exit 2 ;;
esac

say() { printf '==> %s\n' "$*" >&2; }

# --- what is needed ----------------------------------------------------

missing=()

cc=${CC:-}
if [ -z "$cc" ]; then
    for c in clang clang-14; do
        command -v "$c" >/dev/null && { cc=$c; break; }
    done
fi

mkdir -p "$OUT"

if [ -z "$cc" ] || ! command -v "$cc" >/dev/null; then
    missing+=("clang (Debian: clang)")
else
    probe=$OUT/probe.c
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
        '{ (void) d; (void) n; return 0; }' >"$probe"
    "$cc" -fsanitize=fuzzer,address,undefined "$probe" -o "$OUT/probe" \
        2>/dev/null \
        || missing+=("libFuzzer and sanitizers (Debian: libclang-rt-14-dev)")
    rm -f "$probe" "$OUT/probe"
fi

[ -f "$NGX/src/core/ngx_config.h" ] \
    || missing+=("nginx headers in $NGX (Debian: nginx-dev)")
[ -f "$OBJS/ngx_auto_config.h" ] \
    || missing+=("nginx's generated headers in $OBJS (run ./build.sh)")

# conf: an nginx built from source, its objects and its tree

if [[ " $harnesses " == *" conf "* ]]; then
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/ngx-fireworks
    conf_objs=${FW_CONF_OBJS:-}
    conf_src=${FW_CONF_SRC:-}

    if [ -z "$conf_objs" ]; then
        for d in $(ls -d "$cache"/nginx/[0-9]*[0-9] 2>/dev/null | sort -V -r)
        do
            v=${d##*/}
            if [ -f "$d/objs/src/core/ngx_palloc.o" ] \
               && [ -f "$d/objs/src/core/nginx.o" ] \
               && [ -f "$cache/src/nginx-$v/src/core/ngx_config.h" ]
            then
                conf_objs=$d/objs
                conf_src=$cache/src/nginx-$v
                break
            fi
        done
    fi

    if [ -z "$conf_objs" ] || [ ! -f "$conf_objs/src/core/nginx.o" ] \
       || [ ! -f "$conf_src/src/core/ngx_config.h" ]
    then
        if [[ " $named " == *" conf "* ]]; then
            missing+=("for conf, an nginx built from source (./build.sh compat, or FW_CONF_OBJS and FW_CONF_SRC)")
        else
            say "fuzz_conf skipped: no nginx built from source" \
                "(./build.sh compat builds one)"
            harnesses=${harnesses/conf/}
        fi
    fi
fi

if [ ${#missing[@]} -ne 0 ]; then
    echo "t/fuzz/run.sh: missing:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 3
fi

command -v llvm-symbolizer >/dev/null \
    || say "no llvm-symbolizer (Debian: llvm): stack traces unsymbolized"

# --- build -------------------------------------------------------------

incs=(-I"$OBJS" -I"$NGX/src/core" -I"$NGX/src/event"
      -I"$NGX/src/event/modules" -I"$NGX/src/os/unix" -I"$SRC")
cflags=(-g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror
        -Wno-unused-parameter -fsanitize=address,undefined
        -fno-sanitize-recover=all)

# fuzz_conf: the module's sources, instrumented, against the nginx tree
# the objects come from, linked with every object of that nginx; its
# main() renamed, libFuzzer's runs

build_conf() {
    local o=$OUT/conf objs libs f
    local ci=(-I"$conf_objs" -I"$conf_src/src/core" -I"$conf_src/src/event"
              -I"$conf_src/src/event/modules" -I"$conf_src/src/event/quic"
              -I"$conf_src/src/os/unix" -I"$conf_src/src/http"
              -I"$conf_src/src/http/modules" -I"$conf_src/src/http/v2"
              -I"$SRC")

    say "build build/fuzz/fuzz_conf (nginx objects of $conf_objs)"
    rm -rf "$o"
    mkdir -p "$o"

    for f in "$SRC"/*.c; do
        "$cc" "${cflags[@]}" "${ci[@]}" -fsanitize=fuzzer-no-link \
            -c "$f" -o "$o/$(basename "$f" .c).o"
    done

    "$cc" "${cflags[@]}" "${ci[@]}" -c "$HERE/fuzz_conf.c" \
        -o "$o/fuzz_conf.o"
    objcopy --redefine-sym main=ngx_nginx_main \
        "$conf_objs/src/core/nginx.o" "$o/nginx.o"

    objs=$(find "$conf_objs/src" -name '*.o' ! -path '*/src/core/nginx.o')
    libs=$(grep -o -- '-l[A-Za-z0-9_.+-]*' "$conf_objs/Makefile" | sort -u)

    # shellcheck disable=SC2086
    "$cc" "${cflags[@]}" -fsanitize=fuzzer "$o"/*.o $objs \
        "$conf_objs/ngx_modules.o" $libs -o "$OUT/fuzz_conf"
}

declare -A srcs=(
    [retry_after]=$SRC/ngx_http_fireworks_parse.c
    [http_date]=$SRC/ngx_http_fireworks_parse.c
    [json]=$SRC/ngx_http_fireworks_json.c
    [sse]=$SRC/ngx_http_fireworks_sse.c
)

for h in $harnesses; do
    if [ "$h" = conf ]; then
        build_conf
        continue
    fi

    if [ -z "${srcs[$h]:-}" ]; then
        echo "t/fuzz/run.sh: no harness \"$h\"" >&2
        exit 2
    fi

    # coverage guides by the parser's code only, not by the harness's
    # own oracles, which also run faster uninstrumented

    say "build build/fuzz/fuzz_$h"
    "$cc" "${cflags[@]}" "${incs[@]}" -fsanitize=fuzzer-no-link \
        -c "${srcs[$h]}" -o "$OUT/fuzz_$h.parser.o"
    "$cc" "${cflags[@]}" "${incs[@]}" -c "$HERE/fuzz_$h.c" \
        -o "$OUT/fuzz_$h.o"
    "$cc" "${cflags[@]}" -fsanitize=fuzzer "$OUT/fuzz_$h.o" \
        "$OUT/fuzz_$h.parser.o" -o "$OUT/fuzz_$h"
done

[ "$secs" -eq 0 ] && exit 0

# --- run ---------------------------------------------------------------

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0

for h in $harnesses; do
    work=$OUT/corpus/$h
    rm -rf "$work"
    mkdir -p "$work" "$OUT/artifacts"
    cp "$HERE/corpus/$h/"* "$work/"

    args=(-max_total_time="$secs" -timeout=10 -print_final_stats=1
          -artifact_prefix="$OUT/artifacts/$h-")
    [ -f "$HERE/dict/$h.dict" ] && args+=(-dict="$HERE/dict/$h.dict")
    [ "$h" = json ] && args+=(-max_len=65536)

    say "fuzz_$h for ${secs}s on $(ls "$work" | wc -l) seeds"

    rc=0
    # shellcheck disable=SC2086
    (cd "$OUT" && "$OUT/fuzz_$h" "${args[@]}" ${FUZZ_ARGS:-} "$work") \
        >"$OUT/$h.log" 2>&1 || rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$h.log" \
            | tail -1)
    cov=$(grep -a -o 'cov: [0-9]*' "$OUT/$h.log" | tail -1 || true)
    if [ "$rc" -eq 0 ]; then
        say "fuzz_$h: ok, ${execs:-?} executions, $cov, corpus $(ls "$work" \
            | wc -l) (log build/fuzz/$h.log)"
        continue
    fi

    failed=1
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$OUT/$h.log" \
            | tail -1)
    echo "t/fuzz/run.sh: fuzz_$h FAILED (exit $rc); the report:" >&2
    grep -a -E -A25 'ERROR: |runtime error|^fuzz_\w+: ' \
        "$OUT/$h.log" | head -60 >&2 || tail -40 "$OUT/$h.log" >&2
    echo "log: $OUT/$h.log" >&2
    if [ -n "$repro" ]; then
        echo "reproducer: $repro" >&2
        echo "replay: $OUT/fuzz_$h $repro" >&2
    fi
done

exit $failed
