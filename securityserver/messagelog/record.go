package messagelog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Side says which proxy logged a record.
type Side byte

const (
	ClientSide Side = 'C' // the consumer's security server (client proxy)
	ServerSide Side = 'S' // the provider's security server (service proxy)
)

func (s Side) String() string {
	switch s {
	case ClientSide:
		return "client"
	case ServerSide:
		return "server"
	}
	return fmt.Sprintf("side(%d)", byte(s))
}

// Kind says what a record holds.
type Kind byte

const (
	Request  Kind = 'Q'
	Response Kind = 'R'
)

func (k Kind) String() string {
	switch k {
	case Request:
		return "request"
	case Response:
		return "response"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Record is one signed message as the log keeps it.
type Record struct {
	// Set by the log on append.
	Seq      uint64
	PrevHash []byte // SHA-256 of the previous record's encoding; 32 zero bytes for the first

	Time      time.Time
	Side      Side
	Kind      Kind
	MessageID string // xrd:id
	RequestID string // x-road-request-id shared by request and response
	Client    string // client identifier
	Service   string // service identifier
	// Message is the exact SOAP bytes that were signed, or nil when only
	// their digest is logged (privacy setting).
	Message []byte
	// MessageDigest is SHA-512 of the SOAP bytes: what the signature's
	// /message.xml reference covers. Always present.
	MessageDigest []byte
	Signature     []byte // signatures.xml, which carries the signer's OCSP response
	ContentType   string
}

const recordVersion = 1

// encode is the record's stored form, which its hash covers. Fields are
// written in a fixed order, each as a uvarint length then the bytes, so the
// encoding is unambiguous and deterministic.
func (r *Record) encode(dst []byte) []byte {
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, r.Seq)
	dst = appendBytes(dst, r.PrevHash)
	dst = binary.AppendVarint(dst, r.Time.UnixNano())
	dst = append(dst, byte(r.Side), byte(r.Kind))
	for _, s := range [...]string{r.MessageID, r.RequestID, r.Client, r.Service, r.ContentType} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	hasBody := byte(0)
	if r.Message != nil {
		hasBody = 1
	}
	dst = append(dst, hasBody)
	dst = appendBytes(dst, r.Message)
	dst = appendBytes(dst, r.MessageDigest)
	dst = appendBytes(dst, r.Signature)
	return dst
}

// Encode is the record's stored form (with Seq and PrevHash as set), which
// its chain hash (Hash) covers: what every store keeps, so that the auditor
// and the archiver read the same bytes whichever store holds them.
func (r *Record) Encode() []byte { return r.encode(make([]byte, 0, r.encodedSize())) }

// encodedSize bounds the length of r's encoding.
func (r *Record) encodedSize() int {
	const varint = binary.MaxVarintLen64
	return 1 + 3*varint + 2 + 1 + 9*varint + len(r.PrevHash) + len(r.MessageID) + len(r.RequestID) +
		len(r.Client) + len(r.Service) + len(r.ContentType) + len(r.Message) + len(r.MessageDigest) + len(r.Signature)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// ErrCorrupt is wrapped when a stored record cannot be decoded.
var ErrCorrupt = errors.New("corrupt message log record")

// Decode reads a stored record.
func Decode(data []byte) (*Record, error) {
	d := decoder{b: data}
	if v := d.byte(); v != recordVersion {
		return nil, fmt.Errorf("%w: unknown record version %d", ErrCorrupt, v)
	}
	r := &Record{}
	r.Seq = d.uvarint()
	r.PrevHash = d.bytes()
	r.Time = time.Unix(0, d.varint()).UTC()
	r.Side, r.Kind = Side(d.byte()), Kind(d.byte())
	for _, s := range []*string{&r.MessageID, &r.RequestID, &r.Client, &r.Service, &r.ContentType} {
		*s = string(d.bytes())
	}
	hasBody := d.byte()
	r.Message = d.bytes()
	if hasBody == 0 {
		r.Message = nil
	} else if r.Message == nil {
		r.Message = []byte{}
	}
	r.MessageDigest = d.bytes()
	r.Signature = d.bytes()
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return r, nil
}

// Hash is the chain hash of a stored record: SHA-256 of its encoding.
func Hash(encoded []byte) []byte {
	h := sha256.Sum256(encoded)
	return h[:]
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = errors.New("truncated " + what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("field")
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
