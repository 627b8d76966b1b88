#!/usr/bin/perl

# Every nginx configuration shown in README.md and docs/ passes "nginx -t"
# with the built module (the API's host name replaced by a local address:
# this machine resolves no public names).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use FW;

my $t = FW->new();
my $root = "$FindBin::Bin/..";

my @blocks;
for my $file ('README.md', glob("$root/docs/*.md")) {
    my $path = $file =~ m{^/} ? $file : "$root/$file";
    open my $fh, '<', $path or die "$path: $!\n";
    local $/;
    my $md = <$fh>;
    my $i = 0;
    while ($md =~ /^```nginx\n(.*?)^```/msg) {
        my $conf = $1;
        push @blocks, [ ($file =~ s{.*/}{}r) . ' block ' . ++$i, $conf ];
    }
}

cmp_ok(scalar @blocks, '>=', 3, 'configuration examples found');

for my $b (@blocks) {
    my ($name, $conf) = @$b;

    $conf =~ s/^\s*load_module .*$//mg;
    $conf =~ s/api\.fireworks\.ai:443/127.0.0.1:443/g;
    $conf =~ s{/var/log/nginx/}{%%TESTDIR%%/}g;
    $conf =~ s/listen 8080;/listen 127.0.0.1:%%PORT_NGINX%%;/g;

    if ($conf !~ /^http \{/m) {
        $conf = "http {\n%%HTTP_GLOBALS%%\n$conf\n}\n";
    } else {
        $conf =~ s/^http \{/http {\n%%HTTP_GLOBALS%%/m;
    }

    $conf = "%%GLOBALS%%\n" . ($conf =~ /^events/m ? '' : "events { }\n")
        . $conf;

    my ($rc, $out) = $t->test_conf($conf);
    is($rc, 0, "nginx -t: $name") or diag $out;
}

done_testing;
