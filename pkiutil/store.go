package pkiutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// StoreLockTimeout is how long one store operation waits for another process
// (a running responder, another pkiutil command) to release the file.
var StoreLockTimeout = 10 * time.Second

var bucketCerts = []byte("certificates")

// ErrNotIssued means the store has no certificate with the asked serial.
var ErrNotIssued = errors.New("no certificate with this serial number was issued by this CA")

// ErrAlreadyRevoked is returned when revoking a certificate twice.
var ErrAlreadyRevoked = errors.New("certificate is already revoked")

// CertRecord is what the status store keeps of one issued certificate.
type CertRecord struct {
	Serial    *big.Int  `json:"serial"`
	Profile   string    `json:"profile"`
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	IssuedAt  time.Time `json:"issuedAt"`
	Revoked   bool      `json:"revoked"`
	RevokedAt time.Time `json:"revokedAt,omitzero"`
	Reason    int       `json:"reason"` // RFC 5280 CRLReason; meaningful only when Revoked
	DER       []byte    `json:"der"`
}

// SerialHex is the serial in the colon-free upper-case hex openssl prints.
func (r *CertRecord) SerialHex() string { return SerialHex(r.Serial) }

// SerialHex formats a serial number as openssl does (upper-case hex).
func SerialHex(s *big.Int) string { return strings.ToUpper(s.Text(16)) }

// ParseSerial reads a serial given in hex (optionally with 0x prefix or
// colons, as openssl and browsers print it).
func ParseSerial(s string) (*big.Int, error) {
	t := strings.ReplaceAll(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"), ":", "")
	n, ok := new(big.Int).SetString(t, 16)
	if !ok || n.Sign() <= 0 {
		return nil, fmt.Errorf("serial %q is not a positive hexadecimal number", s)
	}
	return n, nil
}

// RevocationReasons maps the RFC 5280 §5.3.1 reason names to codes.
var RevocationReasons = map[string]int{
	"unspecified":          0,
	"keyCompromise":        1,
	"cACompromise":         2,
	"affiliationChanged":   3,
	"superseded":           4,
	"cessationOfOperation": 5,
	"certificateHold":      6,
	"privilegeWithdrawn":   9,
	"aACompromise":         10,
}

// ParseReason accepts a reason name (case-insensitive) from RevocationReasons.
func ParseReason(s string) (int, error) {
	for name, code := range RevocationReasons {
		if strings.EqualFold(name, s) {
			return code, nil
		}
	}
	names := make([]string, 0, len(RevocationReasons))
	for n := range RevocationReasons {
		names = append(names, n)
	}
	sort.Strings(names)
	return 0, fmt.Errorf("unknown revocation reason %q: use one of %s", s, strings.Join(names, ", "))
}

// ReasonName is the RFC 5280 name of a reason code.
func ReasonName(code int) string {
	for n, c := range RevocationReasons {
		if c == code {
			return n
		}
	}
	return fmt.Sprintf("reason(%d)", code)
}

// Store is the durable record of issued certificates and their status, a
// bbolt file. Each call opens the file for just that operation, so separate
// processes can share it (see the package Caveats).
type Store struct {
	path string
}

// OpenStore opens (creating if needed) the status store at path.
func OpenStore(path string) (*Store, error) {
	s := &Store{path: path}
	err := s.update(func(*bolt.Bucket) error { return nil })
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

func (s *Store) update(fn func(*bolt.Bucket) error) error {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: StoreLockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("open status store %s: another process held it for more than %s (a long-running pkiutil command?): %w", s.path, StoreLockTimeout, err)
	}
	if err != nil {
		return fmt.Errorf("open status store %s: %w", s.path, err)
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketCerts)
		if err != nil {
			return err
		}
		return fn(b)
	})
}

func (s *Store) view(fn func(*bolt.Bucket) error) error {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: StoreLockTimeout, ReadOnly: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("open status store %s: another process held it for more than %s (a long-running pkiutil command?): %w", s.path, StoreLockTimeout, err)
	}
	if err != nil {
		return fmt.Errorf("open status store %s: %w", s.path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCerts)
		if b == nil {
			return fmt.Errorf("status store %s has no certificates bucket: was it made by pkiutil init?", s.path)
		}
		return fn(b)
	})
}

// Add records a newly issued certificate. A serial already present is an
// error (serials are random 128-bit numbers; a clash means a bug).
func (s *Store) Add(rec *CertRecord) error {
	val, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.update(func(b *bolt.Bucket) error {
		key := rec.Serial.Bytes()
		if b.Get(key) != nil {
			return fmt.Errorf("serial %s is already in the status store", rec.SerialHex())
		}
		return b.Put(key, val)
	})
}

// reserveSerial runs fn with a fresh serial inside one write transaction and
// stores the record fn returns, so two issuers can never pick the same serial.
func (s *Store) issue(newSerial func() (*big.Int, error), fn func(serial *big.Int) (*CertRecord, error)) (*CertRecord, error) {
	var rec *CertRecord
	err := s.update(func(b *bolt.Bucket) error {
		var serial *big.Int
		for {
			n, err := newSerial()
			if err != nil {
				return err
			}
			if b.Get(n.Bytes()) == nil {
				serial = n
				break
			}
		}
		r, err := fn(serial)
		if err != nil {
			return err
		}
		val, err := json.Marshal(r)
		if err != nil {
			return err
		}
		rec = r
		return b.Put(serial.Bytes(), val)
	})
	return rec, err
}

// Get returns the record of serial, or ErrNotIssued.
func (s *Store) Get(serial *big.Int) (*CertRecord, error) {
	var rec *CertRecord
	err := s.view(func(b *bolt.Bucket) error {
		val := b.Get(serial.Bytes())
		if val == nil {
			return ErrNotIssued
		}
		rec = new(CertRecord)
		return json.Unmarshal(val, rec)
	})
	return rec, err
}

// Revoke marks serial revoked at time at with an RFC 5280 reason code.
func (s *Store) Revoke(serial *big.Int, reason int, at time.Time) (*CertRecord, error) {
	var rec CertRecord
	err := s.update(func(b *bolt.Bucket) error {
		val := b.Get(serial.Bytes())
		if val == nil {
			return ErrNotIssued
		}
		if err := json.Unmarshal(val, &rec); err != nil {
			return err
		}
		if rec.Revoked {
			return fmt.Errorf("%w (at %s, %s)", ErrAlreadyRevoked, rec.RevokedAt.Format(time.RFC3339), ReasonName(rec.Reason))
		}
		rec.Revoked, rec.RevokedAt, rec.Reason = true, at.UTC().Truncate(time.Second), reason
		out, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		return b.Put(serial.Bytes(), out)
	})
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

// List returns every record, ordered by issue time.
func (s *Store) List() ([]*CertRecord, error) {
	var out []*CertRecord
	err := s.view(func(b *bolt.Bucket) error {
		return b.ForEach(func(_, v []byte) error {
			rec := new(CertRecord)
			if err := json.Unmarshal(v, rec); err != nil {
				return err
			}
			out = append(out, rec)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].IssuedAt.Before(out[j].IssuedAt) })
	return out, err
}
