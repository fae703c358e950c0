// Package rest implements the X-Road message protocol for REST, version r1
// (PR-REST), as a library: reading an information system's REST request,
// the signed REST header parts that travel between security servers, the
// X-Road-Request-Hash binding a response to its request, X-Road's REST error
// responses, and the endpoint patterns of endpoint-level access rights.
//
// The promise: the header parts this package writes are byte for byte what
// X-Road 7 writes for the same method, target, header fields and order
// (RestRequest.toByteArray and RestResponse.toByteArray in X-Road's
// src/common/common-message), and every part X-Road writes parses here and
// serialises back to the same bytes. Those bytes are what is signed as
// /message.xml and hashed into X-Road-Request-Hash, so the caller must sign,
// send, log and hash exactly [Request.HeaderPart] (or, on the receiving side,
// the bytes it received, which [ParseRequestPart] refuses unless they are
// that serialisation).
//
// # Basics
//
// The client's security server calls [NewRequest] with the IS's method,
// request target and header fields; the result carries the decoded
// identifiers and the filtered fields plus x-road-request-id (and x-road-id
// when the IS sent none). Its HeaderPart is signed and sent; the provider's
// server reads it back with [ParseRequestPart], calls the service, and
// answers with [NewResponse] whose X-Road-Request-Hash is [RequestHash] of
// the request part and body digest. The client's server reads the response
// part with [ParseResponsePart] and checks it with [CheckResponse]. Failures
// of either server reach the IS through [WriteError]; [ReadError] recognises
// them. [Allowed] decides an endpoint-level access right.
//
// # Caveats
//
//   - Header order is the caller's: Go's net/http keeps neither the order of
//     different header names nor their case, so [FieldsFromHeader] sorts by
//     canonical name. X-Road (Jetty) keeps the wire order. Both sides hash
//     the bytes actually sent, so this changes nothing for the peer.
//   - Client faults are 400 with Client.* codes, as PR-REST §4.6 (category 3,
//     Example 3 "Client.BadRequest") specifies. X-Road's own client proxy
//     answers most of them with 500 Server.ClientProxy.InternalError (it
//     throws IllegalArgumentException, which AbstractClientProxyHandler
//     translates with the Server.ClientProxy prefix).
//   - Identifiers are refused unless every part passes PR-MESS §2.7 /
//     PR-REST §4.8 (registry/identifier.CheckPart). X-Road only logs a
//     warning (MessageProcessorBase.checkIdentifier's result is ignored).
//   - Header parts must be valid UTF-8 and end each line with CRLF. X-Road
//     reads them with BufferedReader (any of CR, LF, CRLF) and replaces
//     invalid UTF-8, then hashes its re-serialisation: parts that differ in
//     those ways would hash differently on the two sides, so they are refused.
//   - A '?' in an endpoint path is a literal here; X-Road's PathGlob leaves it
//     to java.util.regex, where it makes the previous character optional.
package rest
