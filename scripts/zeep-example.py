#!/usr/bin/python3
"""A third-party SOAP client (python3-zeep) calling DİN's getPersonByFin as
ƏMDK's information system, through ƏMDK's security server, from the WSDL in
configs/wsdl. Run it while the local federation runs (go run ./cmd/federation):

    /usr/bin/python3 scripts/zeep-example.py configs/wsdl/din-population.wsdl

It prints the person's surname as SURNAME=...; the end-to-end tests run this
same script.
"""
import sys
import uuid

from zeep import Client

wsdl = sys.argv[1] if len(sys.argv) > 1 else "configs/wsdl/din-population.wsdl"
client = Client(wsdl)
headers = {  # the X-Road header (PR-MESS): who asks, for which service
    "client": {"objectType": "SUBSYSTEM", "xRoadInstance": "AZ", "memberClass": "GOV",
               "memberCode": "EMDK", "subsystemCode": "realestate"},
    "service": {"objectType": "SERVICE", "xRoadInstance": "AZ", "memberClass": "GOV",
                "memberCode": "DIN", "subsystemCode": "population",
                "serviceCode": "getPersonByFin", "serviceVersion": "v1"},
    "id": str(uuid.uuid4()),
    "userId": "AZEMDK0001",
    "protocolVersion": "4.0",
}
res = client.service.getPersonByFin(fin="5ZJ8K2L", _soapheaders=headers)
body = getattr(res, "body", None)
if body is None:
    body = res
person = body["person"]
print("SURNAME=" + person["surname"])
