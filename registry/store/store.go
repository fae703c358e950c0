// Package store is the central registry's durable state: members, subsystems,
// security servers, the service catalogue, global groups and trust settings,
// with an audit trail of every change (who, when, what).
//
// Every change is applied to a private copy of the state, the whole copy is
// validated (no dangling references), and only then are the new state and its
// audit record written in one bbolt transaction. A refused change leaves the
// store exactly as it was.
//
// # Caveats
//
// The state is one JSON value rewritten by each change: fine for the
// thousands of members a national federation has, not for millions; the
// services' description documents (at most 512 KiB each) are part of it,
// so a catalogue of many large WSDLs makes every change slower. One
// process owns the file (bbolt's lock); others get a clear "in use" error.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluz/sluz/registry/identifier"
)

var (
	bucketMeta  = []byte("meta")
	bucketAudit = []byte("audit")
	keyState    = []byte("state")
	keyVersion  = []byte("confVersion")
)

// AuditEntry records one accepted change.
type AuditEntry struct {
	Seq    uint64          `json:"seq"`
	Time   time.Time       `json:"time"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Change json.RawMessage `json:"change"`
}

// Store is the registry's database.
type Store struct {
	db  *bolt.DB
	mu  sync.Mutex // serialises changes
	cur *State     // never modified after publication; changes build a new one
	now func() time.Time
}

// Open opens or creates the store at path for instance. An existing store of
// another instance is refused.
func Open(path, instance string) (*Store, error) {
	if err := identifier.CheckPart("instance", instance); err != nil {
		return nil, fmt.Errorf("registry store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("registry store %s is in use by another process: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("registry store %s: %w", path, err)
	}
	s := &Store{db: db, now: time.Now}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketAudit); err != nil {
			return err
		}
		raw := meta.Get(keyState)
		if raw == nil {
			s.cur = newState(instance)
			data, err := json.Marshal(s.cur)
			if err != nil {
				return err
			}
			return meta.Put(keyState, data)
		}
		st := new(State)
		if err := json.Unmarshal(raw, st); err != nil {
			return fmt.Errorf("stored state is corrupt: %w", err)
		}
		if st.Instance != instance {
			return fmt.Errorf("it belongs to instance %q, not %q", st.Instance, instance)
		}
		s.cur = st
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("registry store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("registry store %s: close: %w", s.db.Path(), err)
	}
	return nil
}

// State returns the current state. Callers must not modify it.
func (s *Store) State() *State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Apply validates and commits one change on behalf of actor. On error nothing
// is written.
func (s *Store) Apply(actor string, c Change) (*AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := clone(s.cur)
	if err != nil {
		return nil, err
	}
	if err := c.Apply(next); err != nil {
		return nil, err
	}
	if err := next.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(auditForm(c))
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	entry := &AuditEntry{Time: s.now().UTC(), Actor: actor, Action: c.Action(), Change: body}
	err = s.db.Update(func(tx *bolt.Tx) error {
		audit := tx.Bucket(bucketAudit)
		seq, err := audit.NextSequence()
		if err != nil {
			return err
		}
		entry.Seq = seq
		rec, err := json.Marshal(entry)
		if err != nil {
			return err
		}
		if err := audit.Put(seqKey(seq), rec); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyState, data)
	})
	if err != nil {
		return nil, fmt.Errorf("registry store: commit %s: %w", c.Action(), err)
	}
	s.cur = next
	return entry, nil
}

func batchAudit(b Batch) map[string]any {
	steps := make([]map[string]any, len(b.Changes))
	for i, c := range b.Changes {
		steps[i] = map[string]any{"action": c.Action(), "change": auditForm(c)}
	}
	return map[string]any{"name": b.Name, "steps": steps}
}

// auditForm is what the audit trail records of c: the change itself, but
// a document's digest instead of its text.
func auditForm(c Change) any {
	switch c := c.(type) {
	case Batch:
		return batchAudit(c)
	case interface{ auditForm() any }:
		return c.auditForm()
	}
	return c
}

func seqKey(n uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return k[:]
}

// Audit returns up to limit most recent audit entries, newest first.
func (s *Store) Audit(limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("audit entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry store %s: %w", s.db.Path(), err)
	}
	return out, nil
}

// NextConfVersion durably reserves the next global configuration version.
// Versions only grow, across restarts too.
func (s *Store) NextConfVersion() (uint64, error) {
	var v uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if raw := meta.Get(keyVersion); len(raw) == 8 {
			v = binary.BigEndian.Uint64(raw)
		}
		v++
		return meta.Put(keyVersion, seqKey(v))
	})
	if err != nil {
		return 0, fmt.Errorf("registry store %s: reserving configuration version %d: %w", s.db.Path(), v, err)
	}
	return v, nil
}

func clone(st *State) (*State, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	out := new(State)
	return out, json.Unmarshal(data, out)
}
