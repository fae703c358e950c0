#!/usr/bin/python3
"""A third-party REST client (Debian's python3-requests and python3-yaml)
reading ƏMDK's real-estate extract by FİN through DİN's security server,
driven by the service's OpenAPI document: the server URL, the operation's
path template and its required X-Road-Client header come from the document,
and the answer is checked against the required fields of its schema.

    /usr/bin/python3 scripts/rest-openapi-example.py [OPENAPI [CLIENT_PROXY_URL [FIN]]]

OPENAPI is a file (default configs/openapi/emdk-realestate.yaml) or an
http(s) URL, e.g. X-Road's getOpenAPI meta service through the client proxy:
http://127.0.0.1:8081/r1/AZ/GOV/EMDK/realestate/getOpenAPI?serviceCode=realEstateRegistry
CLIENT_PROXY_URL replaces the scheme and host of the document's server URL
(default: as the document says, DİN's client proxy in the local federation).
It prints EXTRACT=<number> and PROPERTIES=<count>; the end-to-end tests run
this same script.
"""
import sys
import urllib.parse

import requests
import yaml

CLIENT = "AZ/GOV/DIN/population"  # who asks: DİN's population subsystem

source = sys.argv[1] if len(sys.argv) > 1 else "configs/openapi/emdk-realestate.yaml"
proxy = sys.argv[2] if len(sys.argv) > 2 else None
fin = sys.argv[3] if len(sys.argv) > 3 else "5ZJ8K2L"

if source.startswith(("http://", "https://")):
    r = requests.get(source, headers={"X-Road-Client": CLIENT}, timeout=30)
    r.raise_for_status()
    text = r.text
else:
    with open(source, encoding="utf-8") as f:
        text = f.read()
doc = yaml.safe_load(text)

server = doc["servers"][0]["url"]
if proxy:
    s, p = urllib.parse.urlsplit(server), urllib.parse.urlsplit(proxy)
    server = urllib.parse.urlunsplit((p.scheme, p.netloc, s.path, "", ""))

# The operation getExtractByFin: its path template and header parameters.
path, op = next((path, ops["get"]) for path, ops in doc["paths"].items()
                if ops.get("get", {}).get("operationId") == "getExtractByFin")
headers = {"Accept": "application/json"}
for param in op.get("parameters", []):
    if param["in"] == "header" and param.get("required"):
        headers[param["name"]] = CLIENT if param["name"] == "X-Road-Client" else param["schema"]["example"]
url = server + path.replace("{fin}", urllib.parse.quote(fin, safe=""))

r = requests.get(url, headers=headers, timeout=30)
if r.headers.get("X-Road-Error"):
    sys.exit("X-Road error %s: %s" % (r.headers["X-Road-Error"], r.text))
r.raise_for_status()
extract = r.json()
schema = doc["components"]["schemas"]["Extract"]
missing = [k for k in schema["required"] if k not in extract]
if missing:
    sys.exit("the answer lacks %s required by the OpenAPI document" % ", ".join(missing))
print("EXTRACT=" + extract["extractNumber"])
print("PROPERTIES=%d" % extract["propertyCount"])
print("X-Road-Id=" + r.headers.get("X-Road-Id", ""))
