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

        # Not set here, so the defaults apply in every location:
        #   fireworks_tries 5;                 attempts, the first included
        #   fireworks_retry_on 429 500 502 503 504;
        #   fireworks_backoff 1s 30s;          1 s before the 2nd attempt,
        #                                      2 s, 4 s, ... at most 30 s
        #   fireworks_jitter 1s;               plus U(0, 1 s) on each wait
        #   fireworks_retry_after on;          Retry-After replaces backoff

        # chat: 30 s per attempt, 60 s in all
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
        # (with the default 5, the waits alone would take 15 s and more)
        location /short/v1/ {
            rewrite ^/short(/v1/.*)\$ \$1 break;
            fireworks_pass /_fireworks\$uri;
            fireworks_tries 2;
        }

        # each attempt: a subrequest to here, proxied to the API
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

echo "==> demo: nginx -t of the gateway's configuration ($NGINX, $MODULE)" >&2
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
    echo "==> demo: the stand-in API, node t/lib/fakeapi.js, on port $API" >&2
    node "$ROOT/t/lib/fakeapi.js" --port "$API" >"$DIR/api.log" 2>&1 &
    API_PID=$!
    wait_port "$API"
fi
echo "==> demo: nginx, the gateway, on port $GW" >&2
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

cat <<EOF

The stand-in API plays the inference API and misbehaves on purpose: each
request below carries a script in its X-FW-Script header that tells it
what to answer to each attempt.  The gateway does not know the script; it
acts on the answers, as it would in front of the real API.

The gateway's configuration, the server block of its nginx.conf:

EOF
sed -n '/^    server {/,/^    }/p' "$DIR/nginx.conf" | sed 's/^    //'

# what each $fireworks_outcome means, printed the first time it is seen
declare -A EXPLAINED=()
explain() {
    local text
    [ -z "${EXPLAINED[$1]:-}" ] || return 0
    EXPLAINED[$1]=1
    case "$1" in
        done) text="the API's answer was final (a success, or an error
that a retry cannot fix, such as 400): it went to
the client as sent" ;;
        tries) text="the attempts fireworks_tries allows ran out: the
last answer went to the client, with x-should-retry:
false so that the client's SDK does not retry on top
of the gateway" ;;
        deadline) text="no wait fitted before the location's deadline,
or it passed during an attempt" ;;
        retry_after) text="the API asked, with Retry-After, for a longer
wait than fireworks_retry_after_max: its answer went
to the client" ;;
        budget) text="the retry budget or fireworks_max_waiting
refused a retry: the answer went to the client at once" ;;
        client_closed) text="the client went away" ;;
        shutdown) text="nginx was shutting down and no wait fitted" ;;
        *) text="see \$fireworks_outcome in docs/directives.md" ;;
    esac
    field "outcome $1:" "$text"
}

# "    LABEL  TEXT", TEXT's further lines under its first
field() {
    printf '%s\n' "$2" | sed "1s/^/    $(printf '%-20s' "$1")/; 2,\$s/^/                        /"
}

# the access log line of request NAME, once nginx has written it
logged() {
    local line
    for _ in $(seq 50); do
        line=$(grep "^$1|" "$DIR/access.log" 2>/dev/null | tail -1) || true
        [ -z "$line" ] || { echo "$line"; return 0; }
        sleep 0.1
    done
    echo "$1|?|?|?|?|?|?"
}

N=0
ask() {
    local name=$1 path=$2 script=$3 body=$4 api=$5 expect=$6
    local code secs status attempts statuses waited outcome rtime tries
    N=$((N + 1))
    echo
    echo "--- $N. $name: POST $path, X-FW-Script: $script"
    field "the API will:" "$api"
    field "the gateway should:" "$expect"
    read -r code secs < <(curl -s -N -D "$DIR/headers" -o "$DIR/out" \
        -w '%{http_code} %{time_total}\n' \
        "http://127.0.0.1:$GW$path" -H 'Content-Type: application/json' \
        -H "X-Demo: $name" -H "X-FW-Id: $name" -H "X-FW-Script: $script" \
        -d "$body")
    IFS='|' read -r _ status attempts statuses waited outcome rtime \
        <<<"$(logged "$name")"
    tries="$attempts attempts"
    [ "$attempts" != 1 ] || tries="1 attempt"
    field "it did:" "HTTP $code after $(printf '%.2f' "$secs") s: $tries ($statuses),
waited $waited s in all, outcome $outcome"
    explain "$outcome"
    grep -i '^x-should-retry:' "$DIR/headers" | tr -d '\r' \
        | sed 's/^/    header: /' || true
    # the whole body: a JSON answer is one line, a stream one line per
    # event (the blank lines between events left out)
    echo "    body:"
    grep -v '^\s*$' "$DIR/out" | sed 's/^/    | /' || true
}

ask "plain" /v1/chat/completions '200' "$BODY" \
    "answer 200 with a chat completion" \
    "pass it on: 1 attempt, no wait"
ask "rate-limited" /v1/chat/completions '429;ra=2,200' "$BODY" \
    "answer 429 (rate limited) with Retry-After: 2, then 200" \
    "wait the 2 s asked plus up to 1 s of jitter, try
again and pass the 200 on: 2 attempts; the client
never sees the 429"
ask "overloaded" /v1/chat/completions '503,503,200' "$BODY" \
    "answer 503 (overloaded) twice, then 200" \
    "back off 1 s, then 2 s, each plus up to 1 s of
jitter, and pass the 200 on: 3 attempts"
ask "slow" /agents/v1/chat/completions 'slow;ms=1500' "$BODY" \
    "take 1.5 s to answer 200" \
    "wait for it (the agentic workload allows 5 min per
attempt): 1 attempt"
ask "stream" /v1/chat/completions '503,sse;n=5;ms=150' "$SBODY" \
    "answer 503, then stream 5 events 150 ms apart (SSE)
and [DONE]" \
    "back off 1 s plus up to 1 s of jitter, then pass the
stream on event by event, as the API sends it:
2 attempts"
ask "bad-request" /v1/chat/completions '400,200' "$BODY" \
    "answer 400 (invalid request), and 200 if asked again" \
    "pass the 400 on at once: a retry cannot fix a bad
request (only 429 500 502 503 504 are retried):
1 attempt"
ask "still-overloaded" /short/v1/chat/completions '503' "$BODY" \
    "answer 503 to every attempt" \
    "back off 1 s plus up to 1 s of jitter, then give up
after the 2 attempts /short/v1/ allows
(fireworks_tries 2) and pass the last 503 on"

kill -QUIT "$(cat "$DIR/nginx.pid")"
sleep 0.5

echo
echo "What the gateway did (from its access log: \$fireworks_* variables):"
echo
printf '%-18s %-6s %-8s %-16s %-9s %-12s %s\n' request status attempts statuses waited outcome time
awk -F'|' '{ gsub(/, /, ",", $4); printf "%-18s %-6s %-8s %-16s %-9s %-12s %ss\n", $1, $2, $3, $4, $5 "s", $6, $7 }' \
    "$DIR/access.log"
echo
echo "status: the client's; statuses: each attempt's; waited: the time between"
echo "attempts (backoff, jitter, Retry-After); outcome: why the retries ended."
