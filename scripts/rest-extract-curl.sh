#!/bin/sh
# A plain REST client (curl) reading ƏMDK's real-estate extract by FİN as
# DİN's information system, through DİN's security server (X-Road's REST
# protocol r1). Run it while the local federation runs (go run ./cmd/federation):
#
#   sh scripts/rest-extract-curl.sh [CLIENT_PROXY_URL [FIN]]
#
# CLIENT_PROXY_URL defaults to DİN's client proxy, http://127.0.0.1:8081; FIN
# to 5ZJ8K2L. It prints the JSON extract, and the X-Road-* header fields the
# security server added on stderr; it exits non-zero when the call fails
# (with the X-Road-Error body). The end-to-end tests run this same script.
set -eu
proxy=${1:-http://127.0.0.1:8081}
fin=${2:-5ZJ8K2L}
curl --silent --show-error --fail-with-body --dump-header /dev/stderr \
    --header 'X-Road-Client: AZ/GOV/DIN/population' \
    --header 'Accept: application/json' \
    "$proxy/r1/AZ/GOV/EMDK/realestate/realEstateRegistry/extract/$fin"
echo
