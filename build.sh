#!/usr/bin/env bash
#
# ./build.sh                 build build/ngx_http_fireworks_module.so for
#                            Debian's nginx (nginx-dev), or for NGINX_SRC
# ./build.sh test [FILE...]  build, install what the suite needs, then run
#                            it (prove -r t/), or only the files named
# ./build.sh test --sanitize [FILE...]
#                            build nginx and the module with AddressSanitizer
#                            and UndefinedBehaviorSanitizer, run the suite
#                            against them
# ./build.sh compat [V...]   for each nginx version of the matrix: build
#                            nginx from source, the module against it, run
#                            the suite; print a table and write it into
#                            docs/deploy.md (tens of minutes)
# ./build.sh deb             build/libnginx-mod-http-fireworks_<v>_<arch>.deb
# ./build.sh fuzz [seconds]  run each libFuzzer harness of t/fuzz/ (60 s each)
# ./build.sh demo [--serve]  see the gateway at work (demo/demo.sh)
# ./build.sh bench           run bench/ and write docs/benchmarks.md (minutes)
#
# Environment:
#   NGINX_SRC=DIR         an nginx source tree to build against, a release
#                         tarball's (./configure) or a git tree's
#                         (auto/configure); "test" builds nginx from it too
#   NGINX_GIT=DIR         a clone of github.com/nginx/nginx (bare or not):
#                         the source of a version is exported from its tag
#                         release-<version> into the cache
#   NGX_CACHE=DIR         nginx sources and binaries, outside the checkout
#                         (default ${XDG_CACHE_HOME:-$HOME/.cache}/ngx-fireworks)
#   NGX_EXTRA_CC_OPT=...  more compiler flags, for the module and nginx
#   NGX_EXTRA_LD_OPT=...  more linker flags, for the module and nginx
#   COMPAT_VERSIONS=...   the versions of "compat" (see COMPAT_DEFAULT)
#   PROVE_ARGS=...        more arguments for prove
#
# A version's source is taken, in this order, from the cache
# ($NGX_CACHE/src/nginx-<v>), a tarball put in $NGX_CACHE/dl/nginx-<v>.tar.gz,
# NGINX_GIT, or a download: Debian's .orig tarball (1.22.1, 1.26.3, checked
# against its SHA-256) from deb.debian.org, else nginx.org's.
#
set -euo pipefail

ROOT=$(cd "$(dirname "$0")" && pwd)
BUILD=$ROOT/build
MODULE=ngx_http_fireworks_module
CACHE=${NGX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ngx-fireworks}
EXTRA_CC_OPT=${NGX_EXTRA_CC_OPT:-}
EXTRA_LD_OPT=${NGX_EXTRA_LD_OPT:-}

# newest first: mainline, what the F5 NGINX Ingress Controller and NGINX
# Gateway Fabric ship, stable, the previous stables, Debian 12's; then
# Debian's own package, and the official image's build (see compat_row)
COMPAT_DEFAULT="1.31.4 1.31.3 1.30.4 1.28.3 1.26.3 1.22.1 debian docker"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# Debian packages the build and the tests need; installed when missing.
BUILD_PKGS="nginx nginx-dev libpcre2-dev libssl-dev zlib1g-dev gcc make perl"
# prometheus: promtool and a server that scrapes t/30-metrics.t's gateway;
# valgrind: t/35-valgrind.t
TEST_PKGS="curl procps openssl prometheus valgrind"
# the benchmarks' tools and peers; the test suite smoke-runs the benchmarks
BENCH_PKGS="wrk haproxy libnginx-mod-http-lua gnuplot-nox util-linux"
# ./build.sh deb, and t/20-deb.t which runs it: dpkg-buildpackage checks
# the build dependencies, build-essential always among them
DEB_PKGS="build-essential debhelper dpkg-dev lintian"
# libFuzzer (clang's runtime) and symbolized traces: ./build.sh fuzz, and
# t/17-parsers.t, which runs each fuzzer briefly
FUZZ_PKGS="clang libclang-rt-14-dev llvm python3"

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
    if [ ! -f /var/lib/apt/lists/.fireworks-updated ]; then
        log "apt-get update: the package lists (once)"
        apt-get update -qq && touch /var/lib/apt/lists/.fireworks-updated
    fi
    log "apt-get install ${missing[*]} (with what they depend on; quiet)"
    local t0=$SECONDS
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
    log "installed in $((SECONDS - t0)) s"
}

# nginx's configure names a dynamic module's objects by replacing ".c",
# then ".S", in a list that holds the build directory's path once the
# first is done: a build directory with ".S" in its path ("/tmp/tmp.Sx1/")
# breaks the build.  Such a path is used through a symlink in /tmp named
# after it, made again on each run and left there, since the Makefiles
# refer to it.

dotfree() {
    case "$1" in
        *.S*) ;;
        *) echo "$1"; return ;;
    esac
    local link
    link=/tmp/ngx-fireworks-$(printf '%s' "$1" | cksum | tr ' ' '-')
    mkdir -p "$1"
    [ "$(readlink "$link" 2>/dev/null)" = "$1" ] || ln -sfn "$1" "$link"
    echo "$link"
}

BROOT=$(dotfree "$ROOT")


# Source trees

src_version() {
    sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$1/src/core/nginx.h"
}

# A release tarball has ./configure at its top; a git tree has the same
# script as auto/configure.  Either runs from the tree's top directory.

configure_script() {
    if [ -f "$1/configure" ]; then
        echo ./configure
    elif [ -f "$1/auto/configure" ]; then
        echo auto/configure
    else
        die "$1: no ./configure or auto/configure: not an nginx source tree"
    fi
}

# Debian's .orig tarballs of nginx are nginx.org's release tarballs; CI
# machines reach deb.debian.org where they reach nothing else.
declare -A DEBIAN_ORIG_SHA256=(
    [1.22.1]=9ebb333a9e82b952acd3e2b4aeb1d4ff6406f72491bab6cd9fe69f0dea737f31
    [1.26.3]=69ee2b237744036e61d24b836668aad3040dda461fe6f570f1787eab570c75aa
)

download_source() {
    local v=$1 out=$2 url sum=${DEBIAN_ORIG_SHA256[$1]:-}
    command -v curl >/dev/null || install_pkgs curl
    for url in ${sum:+https://deb.debian.org/debian/pool/main/n/nginx/nginx_$v.orig.tar.gz} \
               "https://nginx.org/download/nginx-$v.tar.gz"; do
        log "download $url"
        if curl -fsSL --connect-timeout 15 --retry 2 -o "$out.part" "$url"; then
            if [ -n "$sum" ] && ! echo "$sum  $out.part" | sha256sum -c --quiet -; then
                rm -f "$out.part"
                die "$url: SHA-256 is not $sum"
            fi
            mv "$out.part" "$out"
            echo "$url" >"$out.origin"
            return 0
        fi
        rm -f "$out.part"
    done
    return 1
}

no_source() {
    local v=$1
    cat >&2 <<EOF
build.sh: no source of nginx $v: not in $CACHE/src, and none could be
exported or downloaded.  Any one of these provides it:

  mkdir -p '$CACHE/dl' && curl -fLo '$CACHE/dl/nginx-$v.tar.gz' \\
      https://nginx.org/download/nginx-$v.tar.gz
  NGINX_GIT=/path/to/a/clone/of/github.com/nginx/nginx ./build.sh ${CMD:-}
  NGINX_SRC=/path/to/nginx-$v ./build.sh ${CMD:-}   (one tree: build, test, test --sanitize)
EOF
    exit 1
}

# source_tree VERSION: sets SRC to the cached source tree of nginx VERSION,
# obtaining it once

source_tree() {
    local v=$1 dir=$CACHE/src/nginx-$1 tgz=$CACHE/dl/nginx-$1.tar.gz tmp origin
    SRC=$dir
    [ -f "$dir/src/core/nginx.h" ] && return 0

    mkdir -p "$CACHE/src" "$CACHE/dl"
    if [ ! -s "$tgz" ] && [ -n "${NGINX_GIT:-}" ] && git -C "$NGINX_GIT" \
        rev-parse -q --verify "refs/tags/release-$v^{commit}" >/dev/null
    then
        log "export release-$v from $NGINX_GIT"
        tmp=$(mktemp -d "$CACHE/src/.nginx-$v.XXXXXX")
        git -C "$NGINX_GIT" archive --prefix="nginx-$v/" "release-$v" \
            | tar -x -C "$tmp"
        origin="git tag release-$v"
    else
        [ -s "$tgz" ] || download_source "$v" "$tgz" || no_source "$v"
        tmp=$(mktemp -d "$CACHE/src/.nginx-$v.XXXXXX")
        tar -xzf "$tgz" -C "$tmp"
        origin="release tarball $(cat "$tgz.origin" 2>/dev/null || basename "$tgz")"
    fi

    [ -f "$tmp/nginx-$v/src/core/nginx.h" ] \
        || { rm -rf "$tmp"; die "nginx $v: no nginx-$v/src/core/nginx.h in the source"; }
    [ "$(src_version "$tmp/nginx-$v")" = "$v" ] \
        || { rm -rf "$tmp"; die "nginx $v: the source is $(src_version "$tmp/nginx-$v")"; }
    printf '%s\n' "$origin" >"$tmp/nginx-$v/.origin"
    rm -rf "$dir"
    mv "$tmp/nginx-$v" "$dir"
    rm -rf "$tmp"
}

# the newest source tree of a branch in the cache (or NGINX_GIT's tags)

newest_version() {
    local branch=$1
    {
        ls -d "$CACHE/src/nginx-$branch".* 2>/dev/null | sed 's|.*/nginx-||'
        [ -z "${NGINX_GIT:-}" ] || git -C "$NGINX_GIT" tag -l "release-$branch.*" \
            | sed 's/^release-//'
    } | { grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' || true; } | sort -V | tail -1
}


# Builds

# nginx_configure SRC OBJS ARGS...: SRC's configure, from SRC's top
# directory, building into OBJS

nginx_configure() {
    local src=$1 objs=$2 script
    shift 2
    script=$(configure_script "$src")
    mkdir -p "$objs"
    if ! (cd "$src" && "$script" "$@" --builddir="$(dotfree "$objs")" \
            >"$objs/configure.log" 2>&1); then
        tail -30 "$objs/configure.log" >&2
        return 1
    fi
}

# the configure options of every nginx built here: what the test suite
# uses (stub_status: the benchmarks; sub, addition, gunzip, charset:
# filters next to the module's), as a distribution would build it
NGX_TEST_FLAGS=(
    --with-compat --with-threads --with-pcre-jit
    --with-http_ssl_module --with-http_v2_module
    --with-http_realip_module --with-http_addition_module
    --with-http_sub_module --with-http_gunzip_module
    --with-http_gzip_static_module --with-http_auth_request_module
    --with-http_slice_module --with-http_stub_status_module
    --with-stream --with-stream_ssl_module
)

# what the official nginx image's nginx.org packages are configured with,
# from nginx/pkg-oss debian/Makefile (BASE_CONFIGURE_ARGS), paths kept;
# but for --user=nginx --group=nginx, which bind nothing in the build
# signature and would need a user "nginx" on this machine
NGX_PKG_OSS_FLAGS=(
    --prefix=/etc/nginx --sbin-path=/usr/sbin/nginx
    --modules-path=/usr/lib/nginx/modules --conf-path=/etc/nginx/nginx.conf
    --error-log-path=/var/log/nginx/error.log
    --http-log-path=/var/log/nginx/access.log
    --pid-path=/run/nginx.pid --lock-path=/run/nginx.lock
    --http-client-body-temp-path=/var/cache/nginx/client_temp
    --http-proxy-temp-path=/var/cache/nginx/proxy_temp
    --http-fastcgi-temp-path=/var/cache/nginx/fastcgi_temp
    --http-uwsgi-temp-path=/var/cache/nginx/uwsgi_temp
    --http-scgi-temp-path=/var/cache/nginx/scgi_temp
    --with-compat --with-file-aio --with-threads
    --with-http_addition_module --with-http_auth_request_module
    --with-http_dav_module --with-http_flv_module --with-http_gunzip_module
    --with-http_gzip_static_module --with-http_mp4_module
    --with-http_random_index_module --with-http_realip_module
    --with-http_secure_link_module --with-http_slice_module
    --with-http_ssl_module --with-http_stub_status_module
    --with-http_sub_module --with-http_v2_module --with-http_v3_module
    --with-mail --with-mail_ssl_module --with-stream
    --with-stream_realip_module --with-stream_ssl_module
    --with-stream_ssl_preread_module
)

SANITIZE_CC_OPT="-fsanitize=address,undefined -fno-omit-frame-pointer"
SANITIZE_CC_OPT="$SANITIZE_CC_OPT -DNGX_DEBUG_PALLOC=1 -g -O1"
SANITIZE_LD_OPT="-fsanitize=address,undefined"

# cc_ld_opts CC_OPT LD_OPT: sets OPTS to --with-cc-opt/--with-ld-opt with
# the NGX_EXTRA_* flags added

cc_ld_opts() {
    local cc="$1 $EXTRA_CC_OPT" ld="$2 $EXTRA_LD_OPT"
    cc=$(echo $cc) ld=$(echo $ld)
    OPTS=()
    [ -z "$cc" ] || OPTS+=("--with-cc-opt=$cc")
    [ -z "$ld" ] || OPTS+=("--with-ld-opt=$ld")
}

# build_nginx SRC KEY ARGS...: the nginx binary of SRC configured with
# ARGS, in $CACHE/nginx/KEY/objs/nginx (sets NGINX_BIN).  configure runs
# again only when the tree or ARGS change; make always runs.

build_nginx() {
    local src=$1 key=$2 dir lock stamp rc=0
    shift 2
    dir=$CACHE/nginx/$key
    stamp=$(printf '%s\n' "$src" "$(src_version "$src")" \
        "$(dotfree "$dir/objs")" "$@")
    mkdir -p "$dir"
    exec {lock}>"$dir/.lock"
    flock "$lock"

    if [ ! -f "$dir/objs/Makefile" ] \
       || [ "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ]
    then
        rm -rf "$dir/objs" "$dir/stamp"
        log "configure nginx $(src_version "$src") in $dir"
        nginx_configure "$src" "$dir/objs" --prefix="$dir/prefix" "$@" \
            || rc=1
        [ $rc != 0 ] || printf '%s' "$stamp" >"$dir/stamp"
    fi

    if [ $rc = 0 ]; then
        log "make nginx ($key)"
        dotfree "$dir/objs" >/dev/null
        (cd "$src" && make -f "$dir/objs/Makefile" -j"$(nproc)" binary) \
            >"$dir/make.log" 2>&1 || { tail -40 "$dir/make.log" >&2; rc=1; }
    fi

    mkdir -p "$dir/prefix/logs"
    exec {lock}>&-
    NGINX_BIN=$dir/objs/nginx
    return $rc
}

# build_module SRC OBJS ARGS...: the module configured with ARGS against
# SRC, built in OBJS (nginx compiles with -Werror).  configure runs again
# only when the tree, ARGS or the module's config change.

build_module() {
    local src=$1 objs=$2 stamp
    shift 2
    stamp=$(printf '%s\n' "$src" "$(src_version "$src")" "$(dotfree "$objs")" \
        "$@" "$(cksum <"$ROOT/config")")

    if [ ! -f "$objs/Makefile" ] \
       || [ "$(cat "$objs/stamp" 2>/dev/null)" != "$stamp" ]
    then
        rm -rf "$objs"
        log "configure the module with nginx $(src_version "$src")'s" \
            "configure in $objs (quiet: configure.log there)"
        nginx_configure "$src" "$objs" "$@" \
            --add-dynamic-module="$BROOT" || return 1
        printf '%s' "$stamp" >"$objs/stamp"
    fi

    log "make modules: compile the module (-Werror)"
    dotfree "$objs" >/dev/null
    (cd "$src" && make -s -f "$objs/Makefile" -j"$(nproc)" modules) \
        || return 1
}

# ./build.sh: the module for Debian's nginx, configured as nginx-dev says
# Debian's is; or for NGINX_SRC, --with-compat

build() {
    local src flags=() objs cc_opt ld_opt
    cc_opt="-g -O2 -fstack-protector-strong -Wformat -Werror=format-security"
    cc_opt="$cc_opt -fPIC -D_FORTIFY_SOURCE=2"
    ld_opt="-Wl,-z,relro -Wl,-z,now -fPIC"

    if [ -n "${NGINX_SRC:-}" ]; then
        install_pkgs gcc make libpcre2-dev libssl-dev zlib1g-dev
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

    cc_ld_opts "$cc_opt" "$ld_opt"
    build_module "$src" "$objs" "${flags[@]}" "${OPTS[@]}" || exit 1
    mkdir -p "$BUILD"
    cp "$objs/$MODULE.so" "$BUILD/$MODULE.so"
    log "built $BUILD/$MODULE.so"
}

# build_pair SRC KEY CC_OPT LD_OPT ARGS...: nginx from SRC into the cache
# and the module against the same tree, the same way, into
# build/nginx-KEY/; sets NGINX_BIN and MODULE_SO

build_pair() {
    local src=$1 key=$2 cc=$3 ld=$4
    shift 4
    cc_ld_opts "$cc" "$ld"
    build_nginx "$src" "$key" "$@" "${OPTS[@]}" || return 1
    build_module "$src" "$BUILD/nginx-$key/objs" --prefix="$CACHE/nginx/$key/prefix" \
        "$@" "${OPTS[@]}" || return 1
    MODULE_SO=$BUILD/nginx-$key/objs/$MODULE.so
}


# Tests

prepare_tests() {
    install_pkgs $TEST_PKGS $BENCH_PKGS $FUZZ_PKGS $DEB_PKGS
    command -v node >/dev/null || install_pkgs nodejs
    # the real clients of t/13-sdk.t, pinned by t/sdk/package-lock.json
    if [ ! -d "$ROOT/t/sdk/node_modules" ] || \
       [ "$ROOT/t/sdk/package-lock.json" -nt "$ROOT/t/sdk/node_modules" ]; then
        command -v npm >/dev/null || install_pkgs npm
        log "npm ci (t/sdk)"
        (cd "$ROOT/t/sdk" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

# run_tests [FILE...]: the whole suite, or the test files named

run_tests() {
    prepare_tests
    export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-$(command -v nginx || echo /usr/sbin/nginx)}
    export TEST_NGINX_MODULE=${TEST_NGINX_MODULE:-$BUILD/$MODULE.so}
    log "prove: nginx $TEST_NGINX_BINARY, module $TEST_NGINX_MODULE"
    cd "$ROOT"
    # shellcheck disable=SC2086
    prove -r ${PROVE_ARGS:-} "${@:-t/}"
}

# ./build.sh test with NGINX_SRC: nginx from the same tree, unless
# TEST_NGINX_BINARY names one

test_src_binary() {
    [ -n "${NGINX_SRC:-}" ] && [ -z "${TEST_NGINX_BINARY:-}" ] || return 0
    local src
    src=$(cd "$NGINX_SRC" && pwd)
    cc_ld_opts "" ""
    build_nginx "$src" "src-$(src_version "$src")-$(printf '%s' "$src" | cksum | cut -d' ' -f1)" \
        "${NGX_TEST_FLAGS[@]}" "${OPTS[@]}" || die "nginx from $src not built"
    export TEST_NGINX_BINARY=$NGINX_BIN
}

# UndefinedBehaviorSanitizer's reports on nginx's own code (1.26.3 to
# 1.30.4), not the module's, found by running the suite; each suppressed
# by the function it is in

write_ubsan_supp() {
    mkdir -p "$(dirname "$1")"
    cat >"$1" <<'SUPP'
# memcpy(dst, NULL, 0) of an empty string, harmless but undefined:
# ngx_pstrdup() at every start (ngx_init_cycle, an empty conf_param)
nonnull-attribute:ngx_pstrdup
# ngx_sprintf_str(): "%V" of an empty string whose data is NULL (the
# debug log of empty request arguments, ngx_http_process_request_uri)
nonnull-attribute:ngx_sprintf_str
# ngx_http_proxy_create_request(): the empty URI of a proxy_pass without
# a URI part
nonnull-attribute:ngx_http_proxy_create_request
# ngx_http_file_cache_set_header(): the empty ETag of an answer without
# one (proxy_cache, t/39-passes.t)
nonnull-attribute:ngx_http_file_cache_set_header
# HTTP/2 frames read and written as uint16_t and uint32_t at any address,
# as nginx does where unaligned access is allowed (NGX_HAVE_NONALIGNED)
alignment:ngx_http_v2_*
SUPP
}

# ./build.sh test --sanitize: NGINX_SRC, else the newest 1.30.x in the
# cache (or NGINX_GIT), else Debian's 1.26.3 source (or 1.22.1) downloaded

sanitize() {
    local src v t0=$SECONDS
    install_pkgs gcc make libpcre2-dev libssl-dev zlib1g-dev
    if [ -n "${NGINX_SRC:-}" ]; then
        src=$(cd "$NGINX_SRC" && pwd)
    else
        v=$(newest_version 1.30)
        if [ -n "$v" ]; then
            source_tree "$v"
        elif (source_tree 1.26.3); then
            source_tree 1.26.3
        else
            log "no nginx 1.26.3: trying Debian's 1.22.1 source"
            source_tree 1.22.1
        fi
        src=$SRC
    fi
    v=$(src_version "$src")
    log "sanitized nginx $v from $src"

    build_pair "$src" "$v-sanitize" "$SANITIZE_CC_OPT" "$SANITIZE_LD_OPT" \
        "${NGX_TEST_FLAGS[@]}" --with-debug \
        || die "the sanitized nginx $v or module could not be built"
    "$NGINX_BIN" -V >/dev/null 2>&1 || die "$NGINX_BIN does not run"
    log "built in $((SECONDS - t0)) s: $NGINX_BIN, $MODULE_SO"

    # detect_odr_violation=0: nginx generates ngx_module_names in the
    # binary and in each dynamic module, the same symbol twice.
    # detect_leaks=0: nginx never frees its configuration cycle when
    # "nginx -t", "nginx -s" or a worker exits, nor OpenSSL's and PCRE's
    # objects it holds; LeakSanitizer reports those, tens of kilobytes in
    # every nginx process, and nothing else (pool memory is reachable).
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0:abort_on_error=0:detect_leaks=0:print_summary=1}
    write_ubsan_supp "$BUILD/sanitize/ubsan.supp"
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=0:suppressions=$BUILD/sanitize/ubsan.supp}
    # ASan's quarantine holds freed memory: tests that measure RSS relax
    export TEST_NGINX_SANITIZE=1
    export TEST_NGINX_BINARY=$NGINX_BIN TEST_NGINX_MODULE=$MODULE_SO
    run_tests "$@"
}


# ./build.sh compat

# compat_row SPEC: one row of the matrix.  SPEC is a version (nginx and
# the module built from its source as above, NGX_TEST_FLAGS), "debian"
# (Debian's packaged nginx, the module built with nginx-dev: ./build.sh
# test), or "docker" (nginx configured as the official image's nginx.org
# packages are, the module as docs/deploy/docker/Dockerfile builds it, for
# the version that Dockerfile names).  Appends to ROWS.

compat_row() {
    local spec=$1 v key how dir label= t0=$SECONDS nginx_ok=fail mod_ok=fail
    local suite='not run' df args

    case "$spec" in
        debian)
            v=$(dpkg-query -W -f='${Version}' nginx 2>/dev/null || echo none)
            key=debian
            how="Debian's package $v, the module built with nginx-dev (./build.sh test)"
            dir=$BUILD/compat/$key; mkdir -p "$dir"
            nginx_ok=ok
            if (build) >"$dir/build.log" 2>&1; then
                mod_ok=ok
                NGINX_BIN=/usr/sbin/nginx MODULE_SO=$BUILD/$MODULE.so
            fi
            label="$(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||') (Debian)" ;;

        docker)
            df=$ROOT/docs/deploy/docker/Dockerfile
            v=$(sed -n 's/^ARG NGINX_VERSION=//p' "$df" | head -1)
            # the module's configure line of the Dockerfile, as written there
            read -ra args <<<"$(perl -0ne '/\.\/configure (.*?)--add-dynamic-module/s
                and print $1 =~ s/\\\n//gr' "$df")"
            key=$v-pkgoss label="$v (image)"
            how="the official image's build: nginx configured as pkg-oss configures it, the module as the Dockerfile does (${args[*]})"
            dir=$BUILD/compat/$key; mkdir -p "$dir"
            if (source_tree "$v") >"$dir/build.log" 2>&1; then
                source_tree "$v" 2>/dev/null
                cc_ld_opts "" ""
                if build_nginx "$SRC" "$key" "${NGX_PKG_OSS_FLAGS[@]}" \
                    "${OPTS[@]}" >>"$dir/build.log" 2>&1
                then
                    nginx_ok=ok
                    if build_module "$SRC" "$BUILD/nginx-$key/objs" "${args[@]}" \
                        "${OPTS[@]}" >>"$dir/build.log" 2>&1
                    then
                        mod_ok=ok
                        MODULE_SO=$BUILD/nginx-$key/objs/$MODULE.so
                    fi
                fi
            else
                nginx_ok="no source"
            fi ;;

        *)
            v=$spec key=$spec
            dir=$BUILD/compat/$key; mkdir -p "$dir"
            if (source_tree "$v") >"$dir/build.log" 2>&1; then
                source_tree "$v" 2>/dev/null
                how="nginx.org source: $(cat "$SRC/.origin" 2>/dev/null || echo "$SRC")"
                cc_ld_opts "" ""
                if build_nginx "$SRC" "$key" "${NGX_TEST_FLAGS[@]}" \
                    "${OPTS[@]}" >>"$dir/build.log" 2>&1
                then
                    nginx_ok=ok
                    if build_module "$SRC" "$BUILD/nginx-$key/objs" \
                        --prefix="$CACHE/nginx/$key/prefix" \
                        "${NGX_TEST_FLAGS[@]}" "${OPTS[@]}" \
                        >>"$dir/build.log" 2>&1
                    then
                        mod_ok=ok
                        MODULE_SO=$BUILD/nginx-$key/objs/$MODULE.so
                    fi
                fi
            else
                how="none"
                nginx_ok="no source"
            fi ;;
    esac

    if [ "$mod_ok" = ok ]; then
        (cd "$ROOT" && TEST_NGINX_BINARY=$NGINX_BIN TEST_NGINX_MODULE=$MODULE_SO \
            prove -r ${PROVE_ARGS:-} t/) >"$dir/prove.log" 2>&1 || true
        suite=$(prove_summary "$dir/prove.log")
    elif [ "$nginx_ok" = ok ]; then
        suite="not run: the module failed to build (build/compat/$key/build.log)"
    else
        suite="not run: nginx $nginx_ok (build/compat/$key/build.log)"
    fi

    local t=$((SECONDS - t0))
    label=${label:-$v}
    printf '%-16s nginx %-9s module %-4s %s (%dm%02ds)\n' "$label" "$nginx_ok" \
        "$mod_ok" "$suite" $((t / 60)) $((t % 60))
    ROWS+=("| $label | $how | $nginx_ok | $mod_ok | $suite | $((t / 60))m$(printf '%02d' $((t % 60)))s |")
}

# prove's output summed up: files passed/skipped/failed, subtests failed

prove_summary() {
    perl -e '
        my ($ok, $skip, @skipped, %fail, $files, $tests, $result) = (0, 0);
        while (<>) {
            $ok++ if m{^t/\S+\.t \.+ ok\s*$};
            $skip++, push @skipped, $1 if m{^(t/\S+\.t) \.+ skipped};
            $fail{$1} = $2 if m{^(t/\S+\.t)\s+\(Wstat: .*?Tests: \d+\s+Failed: (\d+)\)};
            ($files, $tests) = ($1, $2) if /^Files=(\d+), Tests=(\d+)/;
            $result = $1 if /^Result: (\w+)/;
        }
        my $nf = keys %fail;
        my $sub = 0; $sub += $_ for values %fail;
        print "no result" and exit unless $result;
        printf "%s: %d files: %d passed, %d skipped%s, %d failed%s; %d subtests, %d failed",
            $result, $files // 0, $ok, $skip,
            $skip ? " (" . join(", ", @skipped) . ")" : "", $nf,
            $nf ? " (" . join(", ", map { "$_: $fail{$_} subtests" } sort keys %fail) . ")" : "",
            $tests // 0, $sub;
    ' "$1"
}

compat() {
    local specs=("$@") s t0=$SECONDS
    [ ${#specs[@]} -gt 0 ] || read -ra specs <<<"${COMPAT_VERSIONS:-$COMPAT_DEFAULT}"
    install_pkgs $BUILD_PKGS
    prepare_tests
    ROWS=()
    log "compat: ${specs[*]} (logs in build/compat/)"
    for s in "${specs[@]}"; do
        compat_row "$s"
    done

    local table date commit
    date=$(date -u +%Y-%m-%d)
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$ROOT" diff --quiet HEAD -- ngx_fireworks_module config t 2>/dev/null \
        || commit="$commit + local changes"
    table=$(
        echo "| nginx | how | nginx build | module build (-Werror) | test suite | time |"
        echo "| --- | --- | --- | --- | --- | --- |"
        printf '%s\n' "${ROWS[@]}"
        echo
        echo "\`./build.sh compat\` on $date, module at $commit, $(uname -m), gcc $(gcc -dumpfullversion), in $(( (SECONDS - t0) / 60 )) min."
    )
    printf '\n%s\n' "$table"

    # into docs/deploy.md, between the markers; not for a partial matrix
    if [ $# -eq 0 ] && [ -z "${COMPAT_VERSIONS:-}" ]; then
        TABLE=$table perl -0pi -e '
            s/(<!-- compat-table begin[^\n]*-->\n).*?(<!-- compat-table end -->)/$1$ENV{TABLE}\n$2/s
                or die "docs/deploy.md: no compat-table markers\n"' \
            "$ROOT/docs/deploy.md"
        log "docs/deploy.md: compatibility table written"
    fi
}


# ./build.sh deb: build/libnginx-mod-http-fireworks_<version>-1_<arch>.deb,
# built as Debian builds its nginx module packages: debhelper with the
# nginx sequence of nginx-dev (dh_nginx, the nginx_mod build system), from
# pkg/debian/ copied into a build tree with the module's sources.  The
# version is the VERSION file's.  lintian must report no error.

deb() {
    local version work src tree arch deb rc=0 date
    local stray=/usr/share/nginx/src/Makefile had_stray=0
    install_pkgs $BUILD_PKGS $DEB_PKGS
    version=$(tr -d ' \n' <"$ROOT/VERSION")
    [[ $version =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || die "VERSION: \"$version\""
    work=$BUILD/deb
    rm -rf "$work" "$BUILD"/libnginx-mod-http-fireworks_*.deb
    mkdir -p "$work"

    # the package is built outside the checkout: nginx's auto/make turns
    # each ".S" in the absolute build directory into an object's name (its
    # rule for assembler sources runs on the paths it has just rewritten),
    # so a checkout under, say, /tmp/tmp.S1x2 cannot build it; mktemp's
    # name here has no dot
    src=$(mktemp -d /tmp/ngx-fireworks-deb-XXXXXXXX)
    tree=$src/libnginx-mod-http-fireworks-$version
    mkdir -p "$tree/docs"
    cp -a "$ROOT/config" "$ROOT/VERSION" "$ROOT/README.md" \
        "$ROOT/ngx_fireworks_module" "$tree/"
    cp -a "$ROOT/docs/directives.md" "$tree/docs/"
    cp -a "$ROOT/pkg/debian" "$tree/debian"

    # the changelog: one entry for VERSION, dated by the last commit
    date=$(git -C "$ROOT" log -1 --format=%cD 2>/dev/null || date -R)
    {
        echo "libnginx-mod-http-fireworks ($version-1) unstable; urgency=medium"
        echo
        echo "  * ngx_http_fireworks_module $version, built from" \
            "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "a checkout")."
        echo
        echo " -- $(sed -n 's/^Maintainer: //p' "$tree/debian/control")  $date"
    } >"$tree/debian/changelog"

    # the nginx_mod build system runs nginx-dev's configure in
    # /usr/share/nginx/src, which leaves a Makefile there: removed after
    [ ! -e "$stray" ] || had_stray=1
    log "dpkg-buildpackage in $tree"
    (cd "$tree" && dpkg-buildpackage -b -uc -us) >"$work/build.log" 2>&1 || rc=$?
    [ $had_stray = 1 ] || rm -f "$stray"
    arch=$(dpkg --print-architecture)
    deb=libnginx-mod-http-fireworks_$version-1_$arch.deb
    [ ! -f "$src/$deb" ] || cp "$src/$deb" "$work/$deb"
    rm -rf "$src"
    if [ $rc != 0 ]; then
        tail -40 "$work/build.log" >&2
        die "dpkg-buildpackage failed: $work/build.log"
    fi

    [ -f "$work/$deb" ] || die "no $work/$deb"
    cp "$work/$deb" "$BUILD/$deb"

    log "lintian $deb"
    lintian --fail-on error --display-info "$BUILD/$deb" | tee "$work/lintian.log" \
        || die "lintian reports errors: $work/lintian.log"
    log "built $BUILD/$deb"
}


CMD=${1:-build}
case "$CMD" in
    build) build ;;
    test)
        shift
        if [ "${1:-}" = "--sanitize" ]; then
            shift
            sanitize "$@"
        else
            build
            test_src_binary
            run_tests "$@"
        fi ;;
    compat)
        shift
        compat "$@" ;;
    deb) deb ;;
    fuzz)
        build
        install_pkgs $FUZZ_PKGS
        exec "$ROOT/t/fuzz/run.sh" "${2:-60}" ;;
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
    *) echo "usage: $0 [build|test [--sanitize] [file...]|compat [version...]|deb|fuzz [seconds]|demo [--serve]|bench]" >&2
       exit 2 ;;
esac
