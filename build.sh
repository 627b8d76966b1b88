#!/usr/bin/env bash
#
# ./build.sh              build build/ngx_http_fireworks_module.so
# ./build.sh test         build, then run the test suite (prove -r t/)
# ./build.sh demo [--serve]  see the gateway at work (demo/demo.sh)
# ./build.sh bench        run bench/ and write docs/benchmarks.md (minutes)
#
# Environment:
#   NGINX_SRC=DIR         an nginx source tree to build against, a release
#                         tarball's (./configure) or a git tree's
#                         (auto/configure)
#   NGX_EXTRA_CC_OPT=...  more compiler flags for the module's build
#   NGX_EXTRA_LD_OPT=...  more linker flags for the module's build
#
set -euo pipefail

ROOT=$(cd "$(dirname "$0")" && pwd)
BUILD=$ROOT/build
MODULE=ngx_http_fireworks_module

log() { printf '==> %s\n' "$*" >&2; }

# A release tarball has ./configure at its top; a git tree has the same
# script as auto/configure.  Either runs from the tree's top directory.

configure_script() {
    if [ -f "$1/configure" ]; then
        echo ./configure
    elif [ -f "$1/auto/configure" ]; then
        echo auto/configure
    else
        echo "build.sh: $1: no ./configure or auto/configure:" \
            "not an nginx source tree" >&2
        exit 1
    fi
}

# Debian packages the build and the tests need; installed when missing.
BUILD_PKGS="nginx nginx-dev libpcre2-dev libssl-dev zlib1g-dev gcc make perl"
TEST_PKGS="curl procps openssl"
# the benchmarks' tools and peers; the test suite smoke-runs the benchmarks
BENCH_PKGS="wrk haproxy libnginx-mod-http-lua gnuplot-nox util-linux"

install_pkgs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing packages: ${missing[*]} (run as root or install them)" >&2
        exit 1
    fi
    log "apt-get install ${missing[*]}"
    if [ ! -f /var/lib/apt/lists/.fireworks-updated ]; then
        apt-get update -qq && touch /var/lib/apt/lists/.fireworks-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
    local src flags=() cc_opt ld_opt=() script
    cc_opt="-g -O2 -fstack-protector-strong -Wformat -Werror=format-security"
    cc_opt="$cc_opt -fPIC -D_FORTIFY_SOURCE=2 ${NGX_EXTRA_CC_OPT:-}"
    [ -z "${NGX_EXTRA_LD_OPT:-}" ] || ld_opt=("--with-ld-opt=$NGX_EXTRA_LD_OPT")

    if [ -n "${NGINX_SRC:-}" ]; then
        src=$(cd "$NGINX_SRC" && pwd)
        flags=(--with-compat --with-http_ssl_module --with-http_v2_module)
        objs=$BUILD/objs-$(basename "$src")
    else
        install_pkgs $BUILD_PKGS
        # nginx-dev ships configure and headers: configure a private copy
        src=$BUILD/nginx-dev-src
        if [ ! -f "$src/configure" ] || \
           [ /usr/share/nginx/src/conf_flags -nt "$src/configure" ]; then
            rm -rf "$src"; mkdir -p "$BUILD"
            cp -a /usr/share/nginx/src "$src"
        fi
        # shellcheck disable=SC1091
        . "$src/conf_flags"
        flags=("${NGX_CONF_FLAGS[@]}")
        objs=$BUILD/objs
    fi

    script=$(configure_script "$src")
    log "configure $(sed -n 's/#define NGINX_VERSION *"\(.*\)"/\1/p' \
        "$src/src/core/nginx.h") in $objs"
    mkdir -p "$objs"

    # nginx's configure makes object names by replacing ".c" and ".S"
    # anywhere in a path ("/tmp/tmp.Sx1/..." breaks): build through a
    # symlink whose path has no dot when the checkout's has one
    local root=$ROOT bobjs=$objs link=
    case "$ROOT" in
        *.c* | *.S*)
            link=$(mktemp -u /tmp/ngx-fireworks-XXXXXXXX | tr -d .)
            ln -s "$ROOT" "$link"
            root=$link
            bobjs=$link${objs#"$ROOT"} ;;
    esac

    (cd "$src" && "$script" "${flags[@]}" --with-cc-opt="$cc_opt" "${ld_opt[@]}" \
        --builddir="$bobjs" --add-dynamic-module="$root" \
        >"$objs/configure.log" 2>&1) \
        || { tail -30 "$objs/configure.log"; [ -z "$link" ] || rm -f "$link"; exit 1; }

    log "make modules"
    (cd "$src" && make -s -f "$bobjs/Makefile" -j"$(nproc)" modules) \
        || { [ -z "$link" ] || rm -f "$link"; exit 1; }
    [ -z "$link" ] || rm -f "$link"

    cp "$objs/$MODULE.so" "$BUILD/$MODULE.so"
    log "built $BUILD/$MODULE.so"
}

run_tests() {
    install_pkgs $TEST_PKGS $BENCH_PKGS
    command -v node >/dev/null || install_pkgs nodejs
    # the real clients of t/13-sdk.t, pinned by t/sdk/package-lock.json
    if [ ! -d "$ROOT/t/sdk/node_modules" ] || \
       [ "$ROOT/t/sdk/package-lock.json" -nt "$ROOT/t/sdk/node_modules" ]; then
        command -v npm >/dev/null || install_pkgs npm
        log "npm ci (t/sdk)"
        (cd "$ROOT/t/sdk" && npm ci --no-audit --no-fund --loglevel=error)
    fi
    export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-$(command -v nginx || echo /usr/sbin/nginx)}
    export TEST_NGINX_MODULE=${TEST_NGINX_MODULE:-$BUILD/$MODULE.so}
    cd "$ROOT"
    prove -r ${PROVE_ARGS:-} t/
}

cmd=${1:-build}
case "$cmd" in
    build) build ;;
    test) build; run_tests ;;
    demo)
        [ -f "$BUILD/$MODULE.so" ] || build
        install_pkgs curl
        command -v node >/dev/null || install_pkgs nodejs
        shift
        exec "$ROOT/demo/demo.sh" "$@" ;;
    bench)
        build
        install_pkgs $TEST_PKGS $BENCH_PKGS linux-perf
        command -v node >/dev/null || install_pkgs nodejs
        shift
        cd "$ROOT"
        exec perl bench/run.pl "$@" ;;
    *) echo "usage: $0 [build|test|demo [--serve]|bench]" >&2; exit 2 ;;
esac
