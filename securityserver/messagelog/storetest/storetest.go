// Package storetest is the conformance suite of message log stores: what
// the security server relies on from whichever store holds its log
// (messagelog's bbolt file, pglog's PostgreSQL database), checked the same
// way for each. A store's own tests call Run with a way to make an empty
// store; a store passes when every case does.
//
// The promises checked: Append assigns consecutive sequence numbers and
// chains each record to the stored bytes of the one before, in one chain
// however many goroutines append; what Append acknowledged is there after
// Close and reopening, and the chain continues; the time-stamper's view
// (Pending, PendingStored, Flush, Leaves, SignatureDigests, AddBatch
// with X-Road's time-stamp hash chain and with the Merkle batches of older
// logs, Batches); the replay
// guard's (Recent); the archiver's (Each, Archivable, Archived, Prune with
// its anchor, all or nothing); and Close (Append refused with
// messagelog.ErrClosed, readers refused).
//
// # Caveats
//
// Backup is not part of the suite: a store may refuse it and name its own
// way of making a copy. Crash durability (a process killed mid-write) is
// each store's own test: the suite only closes and reopens.
package storetest

import (
	"context"
	"io"
	"time"

	"github.com/sluz/sluz/securityserver/messagelog"
)

// Store is the method set the security server asks of its message log
// store (securityserver's messageLog interface, which a test there holds
// to this one).
type Store interface {
	Append(ctx context.Context, recs ...*messagelog.Record) error

	Pending() (first, last uint64, oldest time.Time, err error)
	PendingStored() (first, last uint64, oldest time.Time, err error)
	Flush() error
	Leaves(first, last uint64) ([][]byte, error)
	SignatureDigests(first, last uint64) ([][]byte, error)
	AddBatch(b *messagelog.Batch) error
	Batches() ([]*messagelog.Batch, error)

	Recent(since time.Time, fn func(r *messagelog.Record) error) error
	Each(from uint64, fn func(r *messagelog.Record, stored []byte) error) error
	Archivable(cutoff time.Time, maxRecords int) ([]*messagelog.Batch, error)
	Archived() (*messagelog.Anchor, error)
	Prune(prevHash []byte, a messagelog.Anchor) error

	Closed() bool
	LastError() error
	QueueLen() int
	Backup(w io.Writer) (int64, error)
	Close() error
}

// Open opens one store: the same one at every call (a reopening sees what
// was appended before), after the store it returned before was closed.
type Open func() (Store, error)
