#!/usr/bin/perl
# Cache::Memcached::Fast (text protocol) against a server:
#   perl cache_memcached_fast_basics.pl HOST:PORT
# set/get, get_multi, gets/cas, incr/decr, append/prepend, add/replace, touch, delete,
# noreply writes, flush_all and server_versions. Prints "cache-memcached-fast: ok" and
# exits 0 when every check holds; names the failure otherwise.
use strict;
use warnings;
use Cache::Memcached::Fast;

my $server = shift or die "usage: $0 HOST:PORT\n";
my $mc = Cache::Memcached::Fast->new({servers => [$server], io_timeout => 10,
                                      connect_timeout => 2, utf8 => 0});
sub check { my ($ok, $what) = @_; unless ($ok) { print "cache-memcached-fast: FAILED: $what\n"; exit 1; } }

check($mc->flush_all, "flush first");
check($mc->set("e2e:a", "alpha"), "set");
check(($mc->get("e2e:a") // "") eq "alpha", "get");
check(!defined $mc->get("e2e:missing"), "get missing");
my $big = "x" x 250000;
check($mc->set("e2e:big", $big) && $mc->get("e2e:big") eq $big, "250 kB value");
my %items = map { ("e2e:m$_" => "v$_" x (1 + $_ % 4)) } 0 .. 199;
$mc->set_multi(map { [$_, $items{$_}] } keys %items);
my $got = $mc->get_multi(keys %items, "e2e:nope");
check(scalar(keys %$got) == 200 && !grep({ $got->{$_} ne $items{$_} } keys %items), "get_multi");

my $g = $mc->gets("e2e:a");
check($g && $g->[1] eq "alpha", "gets");
check($mc->cas("e2e:a", $g->[0], "beta"), "cas with the current token");
check(!$mc->cas("e2e:a", $g->[0], "gamma"), "cas with a stale token must fail");
check($mc->get("e2e:a") eq "beta", "cas value");

check($mc->add("e2e:n", 1), "add new");
check(!$mc->add("e2e:n", 2), "add existing fails");
check($mc->replace("e2e:n", 5), "replace");
check(!$mc->replace("e2e:none", 5), "replace missing");
check($mc->incr("e2e:n", 10) == 15, "incr");
check($mc->decr("e2e:n", 100) == 0, "decr floors at 0");
check(!$mc->incr("e2e:none", 1), "incr missing");
check($mc->append("e2e:a", ">") && $mc->prepend("e2e:a", "<"), "append/prepend");
check($mc->get("e2e:a") eq "<beta>", "append/prepend value");
check($mc->touch("e2e:a", 100), "touch");
check($mc->delete("e2e:a"), "delete");
check(!$mc->delete("e2e:a"), "delete again");
$mc->set_multi(map { ["e2e:q$_", $_] } 0 .. 99);    # pipelined
$mc->delete_multi(map { "e2e:q$_" } 0 .. 49);
$mc->set("e2e:nr", "noreply") for 1 .. 3;            # a void-context set is sent noreply
check($mc->get("e2e:q50") eq "50" && !defined $mc->get("e2e:q0"), "multi set/delete");
check($mc->get("e2e:nr") eq "noreply", "noreply set");
my $v = $mc->server_versions;
check($v && $v->{$server}, "version");
check($mc->flush_all, "flush_all");
check(!defined $mc->get("e2e:q50"), "flushed");
print "cache-memcached-fast: ok\n";
