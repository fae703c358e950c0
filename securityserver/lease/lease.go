// Package lease lets exactly one node of a security server do the work that
// only one may do at a time (time-stamping and archiving the shared message
// log), as X-Road's cluster keeps it on the primary. The lease is a
// PostgreSQL session advisory lock held on a connection of its own: it is
// the holder's while that connection lives, and PostgreSQL releases it as
// soon as the connection ends, so when a holder dies another node takes
// over at its next try, within Options.Retry.
//
// # Caveats
//
// A holder learns that it lost its connection at its next check (every
// Options.Retry), so after a connection is cut (not after a crash, where
// the work dies with the process) the old holder's work may overlap the new
// holder's for up to that long. The work must be safe against that; the
// message log refuses a second batch or pruning of the same range.
//
// A holder cut off by the network keeps the lock until PostgreSQL notices
// the connection is dead: the lease's connection asks the server for TCP
// keepalives (about 11 s); the holder stops its work earlier, at its
// first failed check.
package lease

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// The advisory lock's keys: the class "sluz" (as for the schema lock in
// internal/pgschema) and one id per lease.
const (
	lockClass = 0x736c757a
	// Timestamping is the lease of time-stamping and archiving the
	// message log.
	Timestamping int32 = 2
)

// Options tune a Postgres lease.
type Options struct {
	// ID names the lease among the database's advisory locks; default
	// Timestamping.
	ID int32
	// Retry is how often a node tries to take the lease and the holder
	// checks its connection; default 2 s. A dead holder's work moves to
	// another node within about this long.
	Retry time.Duration
	// Name is the lease connection's application_name (pg_stat_activity);
	// default "sluz lease".
	Name string
	// Logger reports taking and losing the lease; default slog.Default().
	Logger *slog.Logger
}

// Postgres is a lease on the PostgreSQL database a DSN names.
type Postgres struct {
	cfg  *pgx.ConnConfig
	opts Options
	held atomic.Bool
}

// NewPostgres returns the lease on dsn's database; it connects in Run.
func NewPostgres(dsn string, opts Options) (*Postgres, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("lease on PostgreSQL: %w", err)
	}
	if opts.ID == 0 {
		opts.ID = Timestamping
	}
	if opts.Retry <= 0 {
		opts.Retry = 2 * time.Second
	}
	if opts.Name == "" {
		opts.Name = "sluz lease"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg.RuntimeParams["application_name"] = opts.Name
	// The server drops a silent holder's session, and so its lock, after
	// 5 + 3×2 s without an answer to its keepalives.
	for k, v := range map[string]string{"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"} {
		cfg.RuntimeParams[k] = v
	}
	return &Postgres{cfg: cfg, opts: opts}, nil
}

// Held reports whether this node holds the lease now.
func (l *Postgres) Held() bool { return l.held.Load() }

// Run tries to take the lease every Retry until ctx is done. Whenever it
// holds it, it runs work with a context that ends when the lease is lost
// or ctx is done, and waits for work to return before it lets the lease
// go. Work that returns early leaves the lease held (and idle) until then.
func (l *Postgres) Run(ctx context.Context, work func(context.Context)) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(l.opts.Retry)
	defer tick.Stop()
	for {
		var err error
		if conn, err = l.take(ctx, conn); err != nil && ctx.Err() == nil {
			l.opts.Logger.Debug("lease not taken", "err", err)
		}
		if err == nil && conn != nil && l.held.Load() {
			l.hold(ctx, conn, tick, work)
			conn.Close(context.Background()) // lost or stopping: a new session next time
			conn = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// take tries the lock on conn (a new connection when nil or closed) and
// returns the connection to keep; l.held says whether it got the lock.
func (l *Postgres) take(ctx context.Context, conn *pgx.Conn) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Retry)
	defer cancel()
	if conn == nil || conn.IsClosed() {
		var err error
		if conn, err = pgx.ConnectConfig(ctx, l.cfg); err != nil {
			return nil, fmt.Errorf("lease on PostgreSQL: connect: %w", err)
		}
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, int32(lockClass), l.opts.ID).Scan(&got); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("lease on PostgreSQL: try the lock: %w", err)
	}
	l.held.Store(got)
	return conn, nil
}

// hold runs work while conn answers, checking it every tick, until ctx is
// done or the connection fails; it returns after work did.
func (l *Postgres) hold(ctx context.Context, conn *pgx.Conn, tick *time.Ticker, work func(context.Context)) {
	l.opts.Logger.Info("this node holds the lease and does its work", "lease", l.opts.ID, "name", l.opts.Name)
	heldCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		work(heldCtx)
	}()
	stop := func() {
		cancel()
		<-done
		l.held.Store(false)
	}
	finished := done
	for {
		select {
		case <-ctx.Done():
			stop() // work finishes while the lock is still held
			return
		case <-finished:
			finished = nil // idle, still holding
		case <-tick.C:
			pctx, pcancel := context.WithTimeout(ctx, l.opts.Retry)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil && ctx.Err() == nil {
				l.opts.Logger.Warn("lease lost with its database connection; another node takes over the work", "lease", l.opts.ID, "name", l.opts.Name, "err", err)
				stop()
				return
			}
		}
	}
}
