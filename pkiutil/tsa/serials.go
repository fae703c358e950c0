package tsa

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// serialBlock is how many serial numbers BoltSerials reserves per write.
const serialBlock = 1024

var (
	serialBucket = []byte("tsa-serials")
	serialKey    = []byte("high-water-mark")
)

// BoltSerials is a SerialSource backed by a bbolt file. The file records a
// high-water mark: every number below it may have been handed out, none at
// or above it has. Numbers are reserved in blocks of 1024 per (fsynced)
// transaction, so a crash may skip numbers but never reuses or decreases
// one; Close gives back the unused part of the block. BoltSerials is safe
// for concurrent use; bbolt's file lock keeps other processes out.
type BoltSerials struct {
	mu     sync.Mutex
	db     *bolt.DB
	next   uint64 // next number to hand out
	limit  uint64 // numbers below limit are reserved in the file
	closed bool
}

// OpenBoltSerials opens (creating if needed) the serial number file at path.
// It fails after a second if another process holds the file.
func OpenBoltSerials(path string) (*BoltSerials, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("tsa: serial number store %s is in use by another process (another time-stamp authority on this trust directory: run only one): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("tsa: opening serial number store %s: %w", path, err)
	}
	s := &BoltSerials{db: db}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(serialBucket)
		if err != nil {
			return err
		}
		v := b.Get(serialKey)
		switch {
		case v == nil:
			s.limit = 1 // serial numbers start at 1
			return b.Put(serialKey, binary.BigEndian.AppendUint64(nil, s.limit))
		case len(v) != 8:
			return fmt.Errorf("corrupt high-water mark (%d bytes)", len(v))
		}
		s.limit = binary.BigEndian.Uint64(v)
		if s.limit == 0 {
			return errors.New("corrupt high-water mark (zero)")
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("tsa: serial number store %s: %w", path, err)
	}
	s.next = s.limit
	return s, nil
}

// Next returns the next serial number.
func (s *BoltSerials) Next() (*big.Int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("tsa: serial number store is closed")
	}
	if s.next >= s.limit {
		if s.limit > math.MaxUint64-serialBlock {
			return nil, errors.New("tsa: serial numbers exhausted")
		}
		if err := s.store(s.limit + serialBlock); err != nil {
			return nil, err
		}
		s.limit += serialBlock
	}
	n := new(big.Int).SetUint64(s.next)
	s.next++
	return n, nil
}

func (s *BoltSerials) store(mark uint64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(serialBucket)
		if b == nil {
			return errors.New("bucket missing")
		}
		return b.Put(serialKey, binary.BigEndian.AppendUint64(nil, mark))
	})
	if err != nil {
		return fmt.Errorf("tsa: recording serial number high-water mark: %w", err)
	}
	return nil
}

// Close records the exact high-water mark and closes the file.
func (s *BoltSerials) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.store(s.next)
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}
