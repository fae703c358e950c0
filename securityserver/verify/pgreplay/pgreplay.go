// Package pgreplay is the replay guard (verify.ReplayGuard) of a security
// server whose nodes share one PostgreSQL database: a message id received
// by any node is refused when the same client sends it again, to the same
// node or another, within the window. Each check is one statement that
// inserts the pair or finds it, so two nodes receiving the same id at once
// accept it once. Pairs older than the window are replaced when seen again
// and deleted by Run.
//
// The schema is versioned in schema_migrations under component
// "replayguard".
//
// # Caveats
//
// When the database cannot be reached Fresh fails (wrapping
// verify.ErrGuardUnavailable), and the verification rule refuses the
// message with LoggingFailed, the fault of the log on the same database: a
// replay is never let through unchecked. The guard uses the connection pool it is given (the
// message log's) and does not close it.
package pgreplay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluz/sluz/internal/pgschema"
	"github.com/sluz/sluz/securityserver/verify"
)

// component names this store's rows in schema_migrations.
const component = "replayguard"

// migrations: see pgschema.Migrate. Append only.
var migrations = []string{
	// 1: the pairs received, by client and message id.
	`
-- received_ns is when a node received the request (Unix nanoseconds); a
-- pair is a replay while it is younger than the replay window.
CREATE TABLE replay_guard (
	client      text NOT NULL,
	message_id  text NOT NULL,
	received_ns bigint NOT NULL,
	PRIMARY KEY (client, message_id)
);
CREATE INDEX replay_guard_received ON replay_guard (received_ns);
`,
}

// SchemaVersion is the schema version this code writes and reads.
var SchemaVersion = len(migrations)

// ErrSchemaNewer is wrapped when a newer Şlüz migrated the database.
var ErrSchemaNewer = errors.New("the database's replay guard schema is newer than this Şlüz")

// Options tune a Guard.
type Options struct {
	// Timeout bounds one check; default 5 s.
	Timeout time.Duration
	// Logger reports failed expiry passes; default slog.Default().
	Logger *slog.Logger
}

// Guard is the replay guard on PostgreSQL.
type Guard struct {
	pool   *pgxpool.Pool
	window time.Duration
	opts   Options
}

// New migrates the guard's schema in pool's database and returns a guard
// refusing a pair seen again within window.
func New(ctx context.Context, pool *pgxpool.Pool, window time.Duration, opts Options) (*Guard, error) {
	if window <= 0 {
		return nil, fmt.Errorf("replay guard on PostgreSQL: window %s is not positive", window)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := pgschema.Migrate(ctx, pool, component, migrations, ErrSchemaNewer); err != nil {
		return nil, fmt.Errorf("replay guard on PostgreSQL: %w", err)
	}
	return &Guard{pool: pool, window: window, opts: opts}, nil
}

// insertOrRefuse inserts the pair, or replaces one older than the window; a pair
// within the window makes the statement return no row. Concurrent inserts
// of one pair wait for each other, so exactly one of them returns a row.
const insertOrRefuse = `INSERT INTO replay_guard (client, message_id, received_ns) VALUES ($1, $2, $3)
ON CONFLICT (client, message_id) DO UPDATE SET received_ns = excluded.received_ns
	WHERE replay_guard.received_ns <= $4
RETURNING true`

// Fresh implements verify.ReplayGuard: it records (client, id) as received
// at now and reports whether no node received it within the window.
func (g *Guard) Fresh(client, id string, now time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.Timeout)
	defer cancel()
	var ok bool
	err := g.pool.QueryRow(ctx, insertOrRefuse, client, id, now.UnixNano(), now.Add(-g.window).UnixNano()).Scan(&ok)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("replay guard on PostgreSQL: %w: %w", verify.ErrGuardUnavailable, err)
	}
	return true, nil
}

// Expire deletes the pairs older than the window at now and returns how
// many.
func (g *Guard) Expire(ctx context.Context, now time.Time) (int64, error) {
	tag, err := g.pool.Exec(ctx, `DELETE FROM replay_guard WHERE received_ns <= $1`, now.Add(-g.window).UnixNano())
	if err != nil {
		return 0, fmt.Errorf("replay guard on PostgreSQL: delete expired ids: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Run deletes expired pairs every half window until ctx is done. Every
// node may run it: the deletions do not conflict.
func (g *Guard) Run(ctx context.Context) {
	t := time.NewTicker(g.window / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ectx, cancel := context.WithTimeout(ctx, g.window/2)
			if _, err := g.Expire(ectx, now); err != nil && ctx.Err() == nil {
				g.opts.Logger.Warn("expired message ids stay until the next pass", "err", err)
			}
			cancel()
		}
	}
}
