#!/usr/bin/env bash
# Prints how many routes speakerd has installed in the kernel: its bgp_kernel_routes_installed
# gauge (set once the kernel acknowledged them), read from the admin API at ADDRESS:PORT
# (default 127.0.0.1:9179); 0 while the API does not answer. The W3e count of
# scripts/bench-side-by-side.sh.
set -u
admin=${1:-127.0.0.1:9179}
exec 3<>"/dev/tcp/${admin%:*}/${admin##*:}" 2>/dev/null || { echo 0; exit 0; }
printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
awk '/^bgp_kernel_routes_installed / { n = $2 } END { print n + 0 }' <&3
