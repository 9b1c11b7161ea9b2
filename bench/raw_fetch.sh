#!/usr/bin/env bash
# The raw bound: every unique blob of the fleet fetched once with parallel curl
# into files, then sha256sum'd (two hashers).  What the network path and hashing
# allow on this machine, with no registry logic at all.
#
#   raw_fetch.sh BLOBS_TXT REGISTRY_URL TOKEN_URL SERVICE OUTDIR PARALLEL
#
# BLOBS_TXT: "REPO sha256:HEX SIZE" lines (fleet.py lists).  One anonymous
# bearer token for every repository's pull scope, then one `curl --parallel`.
set -euo pipefail
blobs=$1 reg=$2 token_url=$3 service=$4 out=$5 par=$6
mkdir -p "$out"

query="service=$service"
for repo in $(cut -d' ' -f1 "$blobs" | sort -u); do
  query+="&scope=repository:$repo:pull"
done
token=$(curl -fsS --noproxy '*' "$token_url?$query" | sed -E 's/.*"(access_)?token" *: *"([^"]+)".*/\2/')
[[ -n "$token" ]] || { echo "raw_fetch: no token from $token_url" >&2; exit 1; }

# One curl process, PARALLEL transfers at once (--parallel): no registry
# logic, no process per blob.  Its config file has one url/output per blob.
{
  printf 'header = "Authorization: Bearer %s"\n' "$token"
  while read -r repo digest _; do
    printf 'url = "%s/v2/%s/blobs/%s"\noutput = "%s/%s"\n' "$reg" "$repo" "$digest" "$out" "${digest#sha256:}"
  done <"$blobs"
} >"$out.curlrc"
curl -fsS --noproxy '*' --parallel --parallel-max "$par" -K "$out.curlrc"
rm -f "$out.curlrc"

# Verify every file against its name, two hashers at once.
cd "$out"
while read -r _ digest _; do
  printf '%s  %s\n' "${digest#sha256:}" "${digest#sha256:}"
done <"$blobs" >"$out.sums"
split -n l/2 "$out.sums" "$out.sums."
printf '%s\n' "$out.sums.aa" "$out.sums.ab" | xargs -P 2 -n 1 sha256sum --quiet -c
rm -f "$out.sums" "$out.sums.aa" "$out.sums.ab"
