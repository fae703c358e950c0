// Package message implements the X-Road message protocol v4.0 (PR-MESS,
// SOAP 1.1) as a security server needs it: reading and checking the
// messages an information system sends, faults, and the request–response
// binding through requestHash.
//
// The promise: a message's bytes are never modified or re-serialised.
// [Parse] reads the headers from the raw bytes with a streaming tokenizer
// (encoding/xml's RawToken plus byte offsets; no DOM) and keeps the input
// slice itself as [Message.Raw]; what is signed, logged, hashed and
// forwarded is exactly what arrived. The only bytes this package writes are
// faults ([Fault.Marshal]) and the one element [Message.InsertRequestHash]
// splices into a copy of a response.
//
// What Parse validates, each failure a [*Fault] with X-Road's code:
//   - Content-Type text/xml (or multipart/related with the SOAP message as
//     the first, 8bit part, PR-MESS §2.4); charset UTF-8 or none, a UTF-8 BOM
//     allowed (§2.6): InvalidContentType, MimeParsingFailed, MissingSoap.
//   - Well-formed XML, namespace-aware: no DTD or entity declarations, no
//     processing instructions (SOAP 1.1 §3), bound prefixes, unique
//     attributes, nesting and size caps: InvalidSoap, InvalidMessage.
//   - A SOAP 1.1 envelope (not 1.2), Header before Body: InvalidSoap,
//     MissingHeader, MissingBody.
//   - X-Road headers in http://x-road.eu/xsd/xroad.xsd (§2.2): client, id and
//     protocolVersion mandatory, service too in requests
//     (MissingHeaderField); no field twice (DuplicateHeaderField);
//     protocolVersion 4.x (InvalidProtocolVersion); identifiers with the
//     id:objectType their field requires, parts in schema order
//     (InvalidXml) and only the characters §2.7 allows (InvalidClientIdentifier);
//     values are taken exactly as written, so " DIN" is refused, not trimmed.
//     representedParty (PR-THIRDPARTY) and securityServer (PR-TARGETSS) are
//     read too. Any other header, including unknown elements of the X-Road
//     namespace, is skipped untouched.
//   - A body with exactly one child element (InvalidBody): the wrapper, whose
//     local name must start with the service code (InconsistentHeaders), as
//     X-Road checks it: getPersonByFin, getPersonByFinRequest and
//     getPersonByFinResponse all pass for getPersonByFin; or a soap:Fault,
//     which parses as a message with IsFault set, except in a request: there
//     it is refused with its own code behind "Client" (Client.Server.Foo for
//     a fault Server.Foo), as X-Road's client proxy does.
//
// [ReadRequest] reads an IS's request over HTTP and checks, in X-Road's
// order, the method (InvalidHttpMethod), the SOAPAction header, which must be
// absent, empty, "" or a URI reference in double quotes as java.net.URI
// parses it (InvalidSoapAction; SOAP 1.1 §6.1.1), then Content-Type, size
// and Parse.
//
// [CheckResponse] is the client security server's check of a response
// against its request (same client, service, id, userId, issue and
// representedParty; requestHash = SHA-512 of the request's SOAP bytes), and
// [Message.InsertRequestHash] the provider security server's filling in of
// requestHash. Fault codes are written in X-Road ≤ 7.7's CamelCase;
// [NormalizeCode] maps the ≥ 7.8 snake_case forms onto them for comparison.
//
// ReadStream and ReadRequestStream read a multipart/related message
// holding only its SOAP part in memory: each attachment longer than
// spool.InMemory is spooled to a file with its SHA-512 as it streams in
// (Attachment.Spooled), within a limit of its own.
//
// # Caveats
//
//   - Speed is encoding/xml's: 60–90 µs and 174 allocations for a 1.3 KB
//     request on a shared 2-core VM, of which encoding/xml's RawToken alone
//     takes about 90 % (time and allocations). A hand-written scanner could
//     be several times faster.
//   - Only UTF-8 (and US-ASCII content) is accepted; X-Road also accepts other
//     charsets. UTF-16 and the like are refused with InvalidContentType.
//   - Parse is stricter than X-Road's SAX parser in places PR-MESS leaves to
//     the schema: identifier parts must be in schema order and use the §2.7
//     characters (X-Road only logs a warning for other characters, and an
//     identifier with white space then names no member it knows), unknown
//     children of identifiers are refused, and id must not be empty.
//   - No header value is trimmed: id, userId, issue, protocolVersion and
//     representedParty are kept exactly as written, and CheckResponse
//     compares them exactly.
//   - A request that is a fault gets a new faultDetail (Şlüz's log
//     correlation id); X-Road's client proxy sends back the client's own
//     faultstring, faultactor and faultDetail.
//   - InsertRequestHash adds no indentation around the new element (X-Road's
//     re-serialising writer copies the header's first white space).
//   - Attachments are located, not interpreted: their headers are parsed, and
//     their raw part bytes are kept; nested multiparts and the "start"
//     parameter (the SOAP part must come first, PR-MESS §2.4) are not
//     followed.
//   - The securityToken extension (PR-SECTOKEN) and wsse headers are carried
//     but not read.
package message
