package opmon

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketRecords = []byte("records")

// boltBackend keeps records in a bbolt file, keyed by [key].
type boltBackend struct{ db *bolt.DB }

func openBolt(path string) (*boltBackend, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("opmon: %s is in use by another process: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("opmon: %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketRecords)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("opmon: %s: %w", path, err)
	}
	return &boltBackend{db: db}, nil
}

// key is requestInTs (ms, big-endian, so that keys sort by time) then a
// sequence number that keeps records of the same millisecond apart.
func key(ts int64, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(max(ts, 0)))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

func (b *boltBackend) Name() string { return b.db.Path() }
func (b *boltBackend) Close() error { return b.db.Close() }

func (b *boltBackend) Insert(recs []Record) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketRecords)
		// Keys are the requests' times then a sequence: nearly always
		// appended at the end, where half-full pages (bbolt's default)
		// would only double the pages each commit writes.
		bk.FillPercent = 0.9
		for i := range recs {
			data, err := json.Marshal(&recs[i])
			if err != nil {
				return err
			}
			seq, err := bk.NextSequence()
			if err != nil {
				return err
			}
			if err := bk.Put(key(recs[i].RequestInTs, seq), data); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *boltBackend) DeleteBefore(ms int64, limit int) (int, error) {
	cutoff := key(ms, 0)
	n := 0
	err := b.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, cutoff) < 0 && n < limit; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func (b *boltBackend) Scan(from, to int64, fn func(*Record) (bool, error)) error {
	return b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Seek(key(from, 0)); k != nil; k, v = c.Next() {
			if to >= 0 && int64(binary.BigEndian.Uint64(k)) > to {
				return nil
			}
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("record %x: %w", k, err)
			}
			if more, err := fn(&r); !more || err != nil {
				return err
			}
		}
		return nil
	})
}
