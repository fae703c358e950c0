package securityserver

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/acl/pgacl"
	"github.com/sluz/sluz/securityserver/config"
)

// openShared opens the access rights and the operational monitoring
// store: in the data directory, or, when pool is the message log's on
// PostgreSQL, in its database, which the nodes of the server share (a
// right granted on one node holds on all; getSecurityServerOperationalData
// answers for all).
func (s *Server) openShared(pool *pgxpool.Pool, now func() time.Time) error {
	var rules acl.Rules
	var err error
	if pool != nil {
		rules, err = pgacl.New(context.Background(), pool)
	} else {
		rules, err = acl.Open(filepath.Join(s.cfg.DataDir, FileACL))
	}
	if err != nil {
		return err
	}
	s.rules = rules
	if s.acl, err = acl.NewChecker(rules); err != nil {
		return err
	}
	return s.openOpmon(pool, now)
}

// ACLStore is a server's access rights as the acl command edits them.
type ACLStore interface {
	acl.Rules
	io.Closer
}

// OpenACL opens the access rights of the server cfg configures, where its
// nodes read them: dataDir/acl.db, or with messageLog.storage: postgres
// the database of messageLog.postgres.dsn.
func OpenACL(cfg *config.Config) (ACLStore, error) {
	if cfg.MessageLog.Storage == config.StoragePostgres {
		return pgacl.Open(context.Background(), cfg.MessageLog.Postgres.DSN)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	return acl.Open(filepath.Join(cfg.DataDir, FileACL))
}
