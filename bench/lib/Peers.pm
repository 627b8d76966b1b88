package Peers;

# The gateways compared by overhead.pl and faults.pl, all in front of one
# fast upstream (an nginx "return 200" of a chat completion):
#
#   proxy     plain proxy_pass, keepalive to the upstream
#   fw        fireworks_pass to an internal location doing the same
#   lua       an OpenResty-style retry loop: ngx.location.capture of the
#             same internal proxy_pass, ngx.sleep for the backoff
#             (Debian's libnginx-mod-http-lua)
#   haproxy   HAProxy with "retries" and "retry-on" (Debian's 2.6)
#
# The three nginx variants live in one gateway nginx with one worker
# pinned to CPU 0, HAProxy runs one thread on CPU 0 too; the upstream and
# wrk share CPU 1.  Every hop keeps its connections alive.

use warnings;
use strict;

use Bench;

our @VARIANTS = qw/proxy fw lua haproxy/;

# how the reports name them

our %LABEL = (
    proxy => 'plain `proxy_pass`',
    fw => '`fireworks_pass`',
    lua => 'Lua retry loop (`ngx.location.capture`)',
    haproxy => 'HAProxy 2.6 `retry-on`',
);

my $LUA_DIR = '/usr/lib/nginx/modules';

sub have_lua { -f "$LUA_DIR/ngx_http_lua_module.so" }
sub have_haproxy { have('haproxy') }

sub variants {
    return grep { ($_ ne 'lua' || have_lua()) && ($_ ne 'haproxy' || have_haproxy()) }
        @VARIANTS;
}

# fault: share of upstream answers that are 503 (0..1);
# base, jitter: the backoff of the fw and lua variants, in ms;
# gateway, env: start only another gateway nginx of that name, with
# that environment, in front of the upstream already running

sub start {
    my ($bench, %o) = @_;
    my $fault = $o{fault} || 0;
    my $base = $o{base} || 1000;
    my $jitter = $o{jitter} // 1000;
    my $tries = $o{tries} || 5;

    my $pct = $fault * 100;
    my $faults = $fault ? <<"EOF" : '';
    split_clients "\${request_id}" \$fault {
        $pct% 1;
        * "";
    }
EOF
    my $fail = $fault ? <<'EOF' : '';
            if ($fault) {
                return 503 '{"error":{"object":"error","type":"server_error","code":"service_unavailable","message":"The server is overloaded, please retry later"}}';
            }
EOF

    $bench->nginx('up', Bench::upstream_conf(http => $faults, answer => $fail,
        server => "        location = /_status { stub_status; }\n"))
        unless $o{gateway};

    my $gw = $o{gateway} || 'gw';

    $bench->nginx($gw, Bench::gateway_conf(
        upstream => 'up', listen => $gw, keepalive => 64, connections => 4096,
        modules => [ have_lua() ? ("$LUA_DIR/ndk_http_module.so",
                                   "$LUA_DIR/ngx_http_lua_module.so") : () ],
        fw => <<"EOF",
            fireworks_tries $tries;
            fireworks_backoff ${base}ms;
            fireworks_jitter ${jitter}ms;
EOF
        server => have_lua() ? lua_location($base, $jitter, $tries) : '',
    ), env => $o{env});

    if (have_haproxy() && !$o{gateway}) {
        my $retries = $tries - 1;

        # HAProxy wants two descriptors per connection and fails to start
        # when it cannot raise its limit so far
        my $maxconn = int((Bench::nofile() - 100) / 2);
        $maxconn = 4000 if $maxconn > 4000;

        $bench->haproxy(<<"EOF");
global
    nbthread 1
    cpu-map 1/1 0
    maxconn $maxconn
defaults
    mode http
    timeout connect 10s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    option http-keep-alive
frontend fe
    bind 127.0.0.1:%%PORT_HAPROXY%%
    default_backend be
backend be
    http-reuse always
    retries $retries
    retry-on 500 502 503 504 conn-failure empty-response response-timeout
    server api 127.0.0.1:%%PORT_UP%% maxconn 1000
EOF
    }

    return {
        proxy => "http://127.0.0.1:" . $bench->port($gw) . "/proxy/v1/chat/completions",
        fw => "http://127.0.0.1:" . $bench->port($gw) . "/fw/v1/chat/completions",
        lua => "http://127.0.0.1:" . $bench->port($gw) . "/lua/v1/chat/completions",
        haproxy => "http://127.0.0.1:" . $bench->port('haproxy') . "/v1/chat/completions",
    };
}

# The retry loop an OpenResty user would write: same tries, same statuses,
# same backoff formula as the module's defaults.

sub lua_location {
    my ($base, $jitter, $tries) = @_;
    my $bs = $base / 1000;
    my $js = $jitter / 1000;

    return <<"EOF";
        location /lua/ {
            content_by_lua_block {
                local retry = { [429] = true, [500] = true, [502] = true,
                                [503] = true, [504] = true }
                ngx.req.read_body()
                local res
                for attempt = 1, $tries do
                    res = ngx.location.capture("/_lua" .. ngx.var.uri,
                                               { method = ngx.HTTP_POST })
                    if not retry[res.status] or attempt == $tries then
                        break
                    end
                    ngx.sleep($bs * 2 ^ (attempt - 1) + math.random() * $js)
                end
                ngx.status = res.status
                for k, v in pairs(res.header) do
                    ngx.header[k] = v
                end
                ngx.print(res.body)
            }
        }
        location /_lua/ {
            internal;
            proxy_pass http://api/;
        }
EOF
}

# the serving process of a variant: its CPU time is the variant's cost

sub server_pid {
    my ($bench, $variant) = @_;
    return $bench->{haproxy} if $variant eq 'haproxy';
    return $bench->nginx_worker($bench->dir . '/gw');
}

# requests the upstream has answered so far

sub upstream_requests {
    my ($bench) = @_;
    my $port = $bench->port('up');
    my $s = `curl -s http://127.0.0.1:$port/_status`;
    return $1 if $s =~ /^\s*\d+\s+\d+\s+(\d+)/m;
    die "the upstream's stub_status does not answer: $s\n";
}

1;
