#!/usr/bin/env bash
# The raw bound: every unique blob of the fleet fetched once with parallel curl
# into files, then sha256-checked (two OpenSSL hashers).  What the network path and hashing
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

# Verify every file against its name: two hashers at once, OpenSSL's sha256
# (SHA-NI where the CPU has it; coreutils' sha256sum runs ~8x slower here and
# would make the "bound" a measure of sha256sum).
cd "$out"
want=$(wc -l <"$blobs")
cut -d' ' -f2 "$blobs" | sed 's/^sha256://' | xargs -P 2 -n 16 openssl dgst -sha256 -r |
  awk -v want="$want" '{ n = $2; sub(/^\*/, "", n); if ($1 != n) { bad++; print "raw_fetch: digest mismatch: " n > "/dev/stderr" } seen++ }
       END { if (seen != want) { print "raw_fetch: hashed " seen " of " want " blobs" > "/dev/stderr"; exit 1 } exit bad > 0 }'
