package messagelog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
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
	// SignatureDigest, optional and never stored, is the SHA-512 of
	// Signature when the caller computed it already in this process from
	// these very bytes (the verifier does for a batch signature): the log
	// takes it as the record's time-stamp input (SignatureDigest) in place
	// of hashing the document again when it appends the record (readers
	// and checks always hash the document). Only in-process code that hashed the
	// bytes itself may set it, never from anything received; a wrong one
	// makes the record's time-stamp fail the log's check (Check) and the
	// auditor's.
	SignatureDigest []byte
	ContentType     string

	// A message with attachments is signed through a hash chain: the
	// signature covers HashChainResult (/sig-hashchainresult.xml), and
	// HashChain (/sig-hashchain.xml) binds the SOAP message and the
	// Attachments, in order, to it. All three are empty for a message
	// signed directly; such records keep the version 1 encoding.
	HashChainResult []byte
	HashChain       []byte
	Attachments     []Attachment
}

// Attachment is one attachment of a logged message: what an auditor needs
// to check it against the hash chain.
type Attachment struct {
	ContentType string // as it travelled ("" if it had none)
	// Data is the attachment's exact bytes when the record holds them
	// (records written before attachment files, and tests), else nil.
	Data []byte
	// File names the file beside the log (Files) that holds the bytes;
	// "" when the record holds them or only their digest is logged (the
	// same privacy setting as Message).
	File string
	// Digest is SHA-512 of the bytes: what the chain's /attachmentN
	// DataRef covers. Always present.
	Digest []byte
}

// chained reports whether r needs the version 2 encoding.
func (r *Record) chained() bool {
	return r.HashChainResult != nil || r.HashChain != nil || len(r.Attachments) > 0
}

// Record encodings: version 1 for messages signed directly; version 2
// adds the hash chain and the attachments after version 1's fields;
// version 3 is version 2 where an attachment may be kept in a file (its
// flag byte 2, the file's name in place of the bytes). Records are written
// in the lowest version that holds them.
const (
	recordVersion        = 1
	recordVersionChained = 2
	recordVersionFiles   = 3
)

// attachment flags in versions 2 and 3
const (
	attDigest = 0 // only the digest
	attBytes  = 1 // the bytes
	attFile   = 2 // the name of the file holding the bytes (version 3)
)

// version is the encoding r needs.
func (r *Record) version() byte {
	switch {
	case !r.chained():
		return recordVersion
	case slices.ContainsFunc(r.Attachments, func(a Attachment) bool { return a.File != "" }):
		return recordVersionFiles
	}
	return recordVersionChained
}

// encode is the record's stored form, which its hash covers. Fields are
// written in a fixed order, each as a uvarint length then the bytes, so the
// encoding is unambiguous and deterministic.
func (r *Record) encode(dst []byte) []byte {
	dst, _ = r.encodeSig(dst)
	return dst
}

// encodeSig is encode, and where in dst the signature document's bytes
// start.
func (r *Record) encodeSig(dst []byte) (_ []byte, sigAt int) {
	dst = append(dst, r.version())
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
	dst = binary.AppendUvarint(dst, uint64(len(r.Signature)))
	sigAt = len(dst)
	dst = append(dst, r.Signature...)
	if r.chained() {
		dst = appendBytes(dst, r.HashChainResult)
		dst = appendBytes(dst, r.HashChain)
		dst = binary.AppendUvarint(dst, uint64(len(r.Attachments)))
		for _, a := range r.Attachments {
			dst = appendBytes(dst, []byte(a.ContentType))
			switch {
			case a.File != "":
				dst = append(dst, attFile)
				dst = appendBytes(dst, []byte(a.File))
			case a.Data != nil:
				dst = append(dst, attBytes)
				dst = appendBytes(dst, a.Data)
			default:
				dst = append(dst, attDigest)
				dst = appendBytes(dst, nil)
			}
			dst = appendBytes(dst, a.Digest)
		}
	}
	return dst, sigAt
}

// Encode is the record's stored form (with Seq and PrevHash as set), which
// its chain hash (Hash) covers: what every store keeps, so that the auditor
// and the archiver read the same bytes whichever store holds them.
func (r *Record) Encode() []byte { return r.encode(make([]byte, 0, r.encodedSize())) }

// encodedSize bounds the length of r's encoding.
func (r *Record) encodedSize() int {
	const varint = binary.MaxVarintLen64
	return 1 + 3*varint + 2 + 1 + 9*varint + len(r.PrevHash) + len(r.MessageID) + len(r.RequestID) +
		len(r.Client) + len(r.Service) + len(r.ContentType) + len(r.Message) + len(r.MessageDigest) + len(r.Signature) +
		r.chainedSize()
}

func (r *Record) chainedSize() int {
	if !r.chained() {
		return 0
	}
	const varint = binary.MaxVarintLen64
	n := 3*varint + len(r.HashChainResult) + len(r.HashChain)
	for _, a := range r.Attachments {
		n += 1 + 3*varint + len(a.ContentType) + len(a.Data) + len(a.File) + len(a.Digest)
	}
	return n
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
	v := d.byte()
	if v != recordVersion && v != recordVersionChained && v != recordVersionFiles {
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
	if v == recordVersionChained || v == recordVersionFiles {
		r.HashChainResult = d.bytes()
		r.HashChain = d.bytes()
		n := d.uvarint()
		if n > uint64(len(d.b)) { // each attachment takes at least one byte
			d.fail("attachment count")
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			a := Attachment{ContentType: string(d.bytes())}
			flag := d.byte()
			a.Data = d.bytes()
			switch {
			case flag == attDigest:
				a.Data = nil
			case flag == attFile && v == recordVersionFiles:
				a.File, a.Data = string(a.Data), nil
				if err := checkFileName(a.File); err != nil && d.err == nil {
					return nil, fmt.Errorf("%w: attachment %d: %v", ErrCorrupt, i+1, err)
				}
			case flag != attBytes:
				d.fail("attachment flag")
			case a.Data == nil:
				a.Data = []byte{}
			}
			a.Digest = d.bytes()
			r.Attachments = append(r.Attachments, a)
		}
		if d.err == nil && r.version() != v {
			return nil, fmt.Errorf("%w: a version %d record that needs version %d", ErrCorrupt, v, r.version())
		}
	}
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
