#!/usr/bin/env bash
#
# ./build.sh demo [--serve]
#
# Starts the bundled stand-in API (misbehaving on purpose) and nginx with
# a gateway configuration like that of docs/directives.md on 127.0.0.1,
# sends a handful of chat completions with curl, prints what the gateway
# did for each, and stops everything.  --serve leaves the gateway running
# until Ctrl-C; with FIREWORKS_API_KEY set, --serve proxies to the real
# https://api.fireworks.ai/inference/v1 instead of the stand-in.
# FIREWORKS_DEMO_DIR=dir keeps the configuration and logs in dir (which
# is then left in place) instead of a temporary directory.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODULE=${TEST_NGINX_MODULE:-$ROOT/build/ngx_http_fireworks_module.so}
NGINX=${TEST_NGINX_BINARY:-$(command -v nginx || echo /usr/sbin/nginx)}
SERVE=0
[ "${1:-}" = "--serve" ] && SERVE=1

if [ -n "${FIREWORKS_DEMO_DIR:-}" ]; then
    DIR=$FIREWORKS_DEMO_DIR
    mkdir -p "$DIR"
else
    DIR=$(mktemp -d /tmp/fireworks-demo-XXXXXX)
fi
chmod 755 "$DIR"
free_port() {
    perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(
        LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1) or die;
        print $s->sockport'
}
GW=$(free_port)
API=$(free_port)
API_PID=

cleanup() {
    [ -f "$DIR/nginx.pid" ] && kill -QUIT "$(cat "$DIR/nginx.pid")" 2>/dev/null
    [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null
    sleep 0.3
    [ -n "${FIREWORKS_DEMO_DIR:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT

if [ -n "${FIREWORKS_API_KEY:-}" ] && [ $SERVE = 1 ]; then
    # the real API: TLS with SNI, the key injected by the gateway
    RESOLVER=$(awk '/^nameserver/ { print $2; exit }' /etc/resolv.conf)
    UPSTREAM="set \$fw_host api.fireworks.ai;
            resolver ${RESOLVER:-127.0.0.1} valid=300s;
            proxy_pass https://\$fw_host/inference\$fw_path\$is_args\$args;
            proxy_ssl_server_name on;
            proxy_set_header Host api.fireworks.ai;
            proxy_set_header Authorization \"Bearer $FIREWORKS_API_KEY\";"
    TARGET="https://api.fireworks.ai/inference/v1"
else
    UPSTREAM="proxy_pass http://127.0.0.1:$API\$fw_path\$is_args\$args;"
    TARGET="the stand-in API on 127.0.0.1:$API"
fi

USER_LINE=
[ "$(id -u)" = 0 ] && USER_LINE="user root;"

cat > "$DIR/nginx.conf" <<CONF
load_module $MODULE;
$USER_LINE
pid $DIR/nginx.pid;
error_log $DIR/error.log info;
worker_processes 1;
events { }

http {
    client_body_temp_path $DIR/body;
    proxy_temp_path $DIR/proxy;
    fastcgi_temp_path $DIR/fastcgi;
    uwsgi_temp_path $DIR/uwsgi;
    scgi_temp_path $DIR/scgi;

    log_format llm '\$http_x_demo|\$status|\$fireworks_attempts|'
                   '\$fireworks_statuses|\$fireworks_backoff|'
                   '\$fireworks_outcome|\$request_time';
    access_log $DIR/access.log llm;

    client_max_body_size 32m;
    client_body_buffer_size 1m;

    server {
        listen 127.0.0.1:$GW;

        # chat: 30 s per attempt, 60 s in all, 5 tries
        location /v1/ {
            fireworks_pass /_fireworks\$uri;
            fireworks_workload interactive;
        }

        # agents: 5 min per attempt, 30 min in all
        location /agents/v1/ {
            rewrite ^/agents(/v1/.*)\$ \$1 break;
            fireworks_pass /_fireworks\$uri;
            fireworks_workload agentic;
        }

        # a short leash, to show what the client gets when tries run out
        location /short/v1/ {
            rewrite ^/short(/v1/.*)\$ \$1 break;
            fireworks_pass /_fireworks\$uri;
            fireworks_tries 2;
        }

        location ~ ^/_fireworks(?<fw_path>/.*)\$ {
            internal;
            $UPSTREAM
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Retry-Attempt \$fireworks_attempt;
            proxy_buffering off;
            proxy_connect_timeout 10s;
            proxy_read_timeout 30m;
        }
    }
}
CONF

"$NGINX" -t -q -p "$DIR/" -c "$DIR/nginx.conf" -e "$DIR/error.log"

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

if [ -z "${FIREWORKS_API_KEY:-}" ] || [ $SERVE = 0 ]; then
    node "$ROOT/t/lib/fakeapi.js" --port "$API" >"$DIR/api.log" 2>&1 &
    API_PID=$!
    wait_port "$API"
fi
"$NGINX" -p "$DIR/" -c "$DIR/nginx.conf" -e "$DIR/error.log"
wait_port "$GW"

echo "gateway: http://127.0.0.1:$GW/v1  ->  $TARGET"

if [ $SERVE = 1 ]; then
    echo "config: $DIR/nginx.conf, logs: $DIR/access.log $DIR/error.log"
    echo "try: curl http://127.0.0.1:$GW/v1/chat/completions -H 'Content-Type: application/json' -d '{\"model\":\"accounts/fireworks/models/llama-v3p1-8b-instruct\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'"
    echo "Ctrl-C stops it."
    trap 'exit 0' INT TERM
    while :; do sleep 1; done
fi

BODY='{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct","messages":[{"role":"user","content":"Say hello"}]}'
SBODY='{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'

ask() {
    local name=$1 path=$2 script=$3 body=$4
    echo
    echo "--- $name"
    curl -s -N -o "$DIR/out" -w '    client got HTTP %{http_code} in %{time_total}s\n' \
        "http://127.0.0.1:$GW$path" -H 'Content-Type: application/json' \
        -H "X-Demo: $name" -H "X-FW-Id: $name" -H "X-FW-Script: $script" \
        -d "$body"
    head -c 300 "$DIR/out" | sed 's/^/    | /'
    echo
}

ask "plain"            /v1/chat/completions       '200'                     "$BODY"
ask "rate-limited"     /v1/chat/completions       '429;ra=2,200'            "$BODY"
ask "overloaded"       /v1/chat/completions       '503,503,200'             "$BODY"
ask "slow"             /agents/v1/chat/completions 'slow;ms=1500'           "$BODY"
ask "stream"           /v1/chat/completions       '503,sse;n=5;ms=150'      "$SBODY"
ask "bad-request"      /v1/chat/completions       '400,200'                 "$BODY"
ask "still-overloaded" /short/v1/chat/completions '503'                     "$BODY"

kill -QUIT "$(cat "$DIR/nginx.pid")"
sleep 0.5

echo
echo "What the gateway did (from its access log: \$fireworks_* variables):"
echo
printf '%-18s %-6s %-8s %-16s %-9s %-12s %s\n' request status attempts statuses waited outcome time
awk -F'|' '{ gsub(/, /, ",", $4); printf "%-18s %-6s %-8s %-16s %-9s %-12s %ss\n", $1, $2, $3, $4, $5 "s", $6, $7 }' \
    "$DIR/access.log"
