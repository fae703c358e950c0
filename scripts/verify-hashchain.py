#!/usr/bin/python3
"""Check the hash chains of an X-Road ASiC-E container without Şlüz or X-Road code.

Usage:
    python3 scripts/verify-hashchain.py CONTAINER.asice
    python3 scripts/verify-hashchain.py DIR      # the container unzipped into DIR

Python 3 standard library only (zipfile, xml.etree, hashlib, base64). It prints
one line per check ("ok ..." or "FAIL ...", "--" for a note) and exits 0 only if every check
passes, 1 if one fails, 2 if the container has no hash chain to check (a message
without attachments is signed directly: use xmlsec1 alone) or cannot be read.

What is checked (the rules are those of X-Road's verifier,
src/common/common-message/src/main/java/ee/ria/xroad/common/hashchain/
HashChainVerifier.java and DigestList.java in nordic-institute/X-Road; the
formats are hashchain.xsd and xroad-protocols.md §3, "Hash chain format"):

* The signature hash chain, when sig-hashchainresult.xml is present (a message
  with attachments, or a batch signature): the XAdES signature in
  META-INF/signatures.xml signs /sig-hashchainresult.xml (check that with
  xmlsec1), and this script checks that the chain it names leads from the
  container's parts to the digest it holds. Its inputs are /message.xml and
  /attachment1, /attachment2, ... (the files message.xml, attachmentN).
* The time-stamp hash chain, when ts-hashchainresult.xml is present (a record
  time-stamped in a batch): its one input is /META-INF/signatures.xml; the
  RFC 3161 token in META-INF/timestamp.tst stamps ts-hashchainresult.xml
  (check that with `openssl ts`).

The rules:

1. A HashChainResult names a step, "/sig-hashchain.xml#STEP0" (the chain
   document, then the HashStep's id), a DigestMethod and a DigestValue.
2. A HashStep lists values in document order: HashValue (a digest as written),
   StepRef URI="#STEPn" (the digest of step n, computed) and DataRef
   URI="/message.xml" (the digest of that file's bytes exactly as stored, which
   must equal the DigestValue written in the DataRef). Each value's digest
   method is its own ds:DigestMethod, else the chain's DefaultDigestMethod.
3. A step's digest is the digest (under the method of the value that
   references it: the StepRef's, or the HashChainResult's for the top) of the
   DER encoding of
       SEQUENCE OF SEQUENCE { OCTET STRING digest, UTF8String methodURI,
                              SEQUENCE {} }
   with one element per value of the step, in document order (DigestList's
   concatDigests; the last, empty SEQUENCE stands for transforms and is always
   empty).
4. The digest computed for the step the result names must equal the result's
   DigestValue.
5. Every input must be referenced by exactly one DataRef, every chain document
   given must be used, every step used exactly once (X-Road's unused-inputs
   check).
6. A DataRef to /attachmentN that the container does not hold (X-Road logs
   attachment bodies only when configured to) is taken at its written digest,
   as X-Road's container verifier does (HashChainReferenceResolver's
   shouldResolve); the script prints a "--" line naming it: that attachment is
   not checked. Containers exported by Şlüz hold every attachment.

X-Road's builder lays the steps out as a Merkle tree (pairs hashed left then
right, a message with attachments first reduced to one step of DataRefs), but
the verifier only follows references: any layout that computes the signed
digest from the container's bytes passes, and none other can. DataRefs with
Transforms (which X-Road's builder never writes) are refused here.
"""

import base64
import hashlib
import os
import re
import sys
import xml.etree.ElementTree as ET
import zipfile

HC = "{http://cyber.ee/hashchain}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"

METHODS = {
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}


class ChainError(Exception):
    """A check failed; the message names the file and what differs."""


def der(tag, content):
    """One DER TLV: tag byte, definite length (short or long form), content."""
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + length + content


def step_der(values):
    """DigestList: SEQUENCE OF SEQUENCE { OCTET STRING, UTF8String, SEQUENCE {} }."""
    items = b"".join(
        der(0x30, der(0x04, digest) + der(0x0C, method.encode("utf-8")) + der(0x30, b""))
        for method, digest in values
    )
    return der(0x30, items)


def digest(method, data):
    name = METHODS.get(method)
    if name is None:
        raise ChainError("digest method %r is not supported (expected one of %s)" % (method, ", ".join(METHODS)))
    return hashlib.new(name, data).digest()


def b64(b):
    return base64.b64encode(b).decode("ascii")


def read_container(path):
    """The container's entries as {name: bytes}, from a .asice file or a directory."""
    files = {}
    if os.path.isdir(path):
        for root, _, names in os.walk(path):
            for n in names:
                full = os.path.join(root, n)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                with open(full, "rb") as f:
                    files[rel] = f.read()
    else:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.is_dir():
                    files[info.filename] = z.read(info)
    return files


def parse(files, name):
    if name not in files:
        raise ChainError("%s is referenced but not in the container" % name)
    try:
        return ET.fromstring(files[name])
    except ET.ParseError as e:
        raise ChainError("%s is not well-formed XML: %s" % (name, e))


def method_of(el, default, where):
    dm = el.find(DS + "DigestMethod")
    if dm is not None and dm.get("Algorithm"):
        return dm.get("Algorithm")
    if default is None:
        raise ChainError("%s: no DigestMethod and no DefaultDigestMethod" % where)
    return default


def digest_value(el, where):
    dv = el.find(DS + "DigestValue")
    if dv is None or dv.text is None:
        raise ChainError("%s: no DigestValue" % where)
    try:
        return base64.b64decode("".join(dv.text.split()), validate=True)
    except ValueError as e:
        raise ChainError("%s: DigestValue is not base64: %s" % (where, e))


class Walk:
    """Follows one hash chain from its result, as HashChainVerifier does."""

    def __init__(self, label, files, inputs, report):
        self.label, self.files, self.inputs, self.report = label, files, inputs, report
        self.docs = {}  # chain file -> (default method, {id: step element})
        self.used_steps = set()
        self.used_inputs = set()

    def doc(self, name):
        if name not in self.docs:
            root = parse(self.files, name)
            if root.tag != HC + "HashChain":
                raise ChainError("%s: root element is %s, expected HashChain" % (name, root.tag))
            ddm = root.find(HC + "DefaultDigestMethod")
            default = ddm.get("Algorithm") if ddm is not None else None
            steps = {}
            for st in root.findall(HC + "HashStep"):
                sid = st.get("id")
                if sid in steps:
                    raise ChainError("%s: two HashSteps with id %s" % (name, sid))
                steps[sid] = st
            self.docs[name] = (default, steps)
        return self.docs[name]

    def split(self, uri, current):
        """'/sig-hashchain.xml#STEP1' -> ('sig-hashchain.xml', 'STEP1'); '#STEP1' stays in current."""
        m = re.fullmatch(r"(/[^#]+)?#(.+)", uri or "")
        if not m:
            raise ChainError("%s: step URI %r is not [/document]#STEPn" % (current, uri))
        return (m.group(1)[1:] if m.group(1) else current), m.group(2)

    def step(self, name, sid):
        default, steps = self.doc(name)
        where = "%s#%s" % (name, sid)
        if sid not in steps:
            raise ChainError("%s has no HashStep %s (its steps: %s)" % (name, sid, ", ".join(steps)))
        if where in self.used_steps:
            raise ChainError("%s is referenced twice" % where)
        self.used_steps.add(where)
        values = []
        for el in steps[sid]:
            kind = el.tag[len(HC):] if el.tag.startswith(HC) else el.tag
            method = method_of(el, default, where + " " + kind)
            if kind == "HashValue":
                values.append((method, digest_value(el, where + " HashValue")))
            elif kind == "StepRef":
                doc, nid = self.split(el.get("URI"), name)
                values.append((method, digest(method, self.step(doc, nid))))
            elif kind == "DataRef":
                values.append((method, self.data_ref(el, method, where)))
            else:
                raise ChainError("%s: unexpected element %s" % (where, el.tag))
        if not values:
            raise ChainError("%s is empty" % where)
        return step_der(values)

    def data_ref(self, el, method, where):
        uri = el.get("URI") or ""
        if el.find(DS + "Transforms") is not None:
            raise ChainError("%s: the DataRef to %s has Transforms, which this script does not apply" % (where, uri))
        name = uri[1:] if uri.startswith("/") else uri
        if uri not in self.inputs and re.fullmatch(r"/attachment[0-9]+", uri) and name not in self.files:
            # X-Road logs attachments only when configured to; its verifier
            # then takes the DataRef's digest as written. So does this script,
            # saying so: the attachment itself is not checked.
            self.used_inputs.add(uri)
            self.report(None, "%s: %s in %s is not in the container (not logged): its digest is taken as written, unchecked"
                        % (self.label, uri, where))
            return digest_value(el, where + " DataRef " + uri)
        if uri not in self.inputs:
            raise ChainError("%s references %s, which is not an input of this chain (inputs: %s)"
                             % (where, uri, ", ".join(sorted(self.inputs)) or "none"))
        if uri in self.used_inputs:
            raise ChainError("%s references %s a second time" % (where, uri))
        self.used_inputs.add(uri)
        expected = digest_value(el, where + " DataRef " + uri)
        found = digest(method, self.files[name])
        if found != expected:
            raise ChainError("%s: %s in %s is digest %s, the file %s has digest %s"
                             % (self.label, uri, where, b64(expected), name, b64(found)))
        self.report(True, "%s: %s (%d bytes) matches its DataRef in %s" % (self.label, name, len(self.files[name]), where))
        return found

    def verify(self, result_name):
        res = parse(self.files, result_name)
        if res.tag != HC + "HashChainResult":
            raise ChainError("%s: root element is %s, expected HashChainResult" % (result_name, res.tag))
        method = method_of(res, None, result_name)
        expected = digest_value(res, result_name)
        doc, sid = self.split(res.get("URI"), result_name)
        if doc == result_name:
            raise ChainError("%s: URI %r names no chain document" % (result_name, res.get("URI")))
        found = digest(method, self.step(doc, sid))
        if found != expected:
            raise ChainError("%s: %s says the chain's top is %s; the chain computes %s"
                             % (self.label, result_name, b64(expected), b64(found)))
        self.report(True, "%s: the chain from %s#%s computes the digest in %s (%s)" % (self.label, doc, sid, result_name, b64(found)))
        unused = sorted(set(self.inputs) - self.used_inputs)
        if unused:
            raise ChainError("%s: %s not referenced by the chain" % (self.label, ", ".join(unused)))
        for name, (_, steps) in sorted(self.docs.items()):
            spare = [s for s in steps if "%s#%s" % (name, s) not in self.used_steps]
            if spare:
                raise ChainError("%s: %s has unused steps %s" % (self.label, name, ", ".join(spare)))
        self.report(True, "%s: every input (%s) and every step (%d) used once"
                    % (self.label, ", ".join(sorted(self.inputs)), len(self.used_steps)))


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    path = argv[1]
    try:
        files = read_container(path)
    except (OSError, zipfile.BadZipFile) as e:
        print("FAIL %s: cannot read: %s" % (path, e))
        return 2
    failed = False

    def report(ok, line):
        nonlocal failed
        failed = failed or ok is False
        print({True: "ok   ", False: "FAIL ", None: "--   "}[ok] + line)

    attachments = sorted((n for n in files if re.fullmatch(r"attachment[0-9]+", n)), key=lambda n: int(n[10:]))
    chains = [
        ("signature chain", "sig-hashchainresult.xml", ["message.xml"] + attachments),
        ("time-stamp chain", "ts-hashchainresult.xml", ["META-INF/signatures.xml"]),
    ]
    checked = 0
    for label, result, inputs in chains:
        if result not in files:
            print("--   %s: no %s in the container" % (label, result))
            continue
        checked += 1
        present = {"/" + n for n in inputs if n in files}
        try:
            Walk(label, files, present, report).verify(result)
        except ChainError as e:
            report(False, str(e))
    if checked == 0 and not failed:
        print("no hash chain in %s (no sig-hashchainresult.xml or ts-hashchainresult.xml): nothing to check" % path)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
