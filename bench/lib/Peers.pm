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

    my $c = $Bench::COMPLETION;
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

    $bench->nginx('up', <<"EOF") unless $o{gateway};
worker_processes 1;
worker_cpu_affinity 10;
worker_rlimit_nofile %%NOFILE%%;
error_log %%PREFIX%%/logs/error.log warn;
pid %%PREFIX%%/logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
$faults
    server {
        listen 127.0.0.1:%%PORT_UP%% backlog=4096;
        keepalive_requests 1000000;
        location / {
            default_type application/json;
$fail
            return 200 '$c';
        }
        location = /_status { stub_status; }
    }
}
EOF

    my $lua_load = have_lua() ? "load_module $LUA_DIR/ndk_http_module.so;\n"
        . "load_module $LUA_DIR/ngx_http_lua_module.so;\n" : '';
    my $lua_loc = have_lua() ? lua_location($base, $jitter, $tries) : '';

    my $gw = $o{gateway} || 'gw';
    my $GW = uc $gw;

    $bench->nginx($gw, <<"EOF", env => $o{env});
load_module %%MODULE%%;
$lua_load
worker_processes 1;
worker_cpu_affinity 01;
error_log %%PREFIX%%/logs/error.log warn;
pid %%PREFIX%%/logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    upstream api {
        server 127.0.0.1:%%PORT_UP%%;
        keepalive 64;
        keepalive_requests 1000000;
    }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    server {
        listen 127.0.0.1:%%PORT_$GW%% backlog=4096;
        keepalive_requests 1000000;

        location /proxy/ {
            proxy_pass http://api/;
        }

        location /fw/ {
            fireworks_pass /_fw\$uri;
            fireworks_tries $tries;
            fireworks_backoff ${base}ms;
            fireworks_jitter ${jitter}ms;
        }
        location /_fw/ {
            internal;
            proxy_pass http://api/;
        }
$lua_loc
    }
}
EOF

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
    return $s =~ /^\s*\d+\s+\d+\s+(\d+)/m ? $1 : 0;
}

1;
