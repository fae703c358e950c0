package securityserver

import (
	"context"

	"github.com/sluz/sluz/securityserver/messagelog"
)

// WithAppendHook puts hook around the proxies' message log appends (tests):
// it gets each append's records and next, the real append, and returns what
// the proxy is to see.
func WithAppendHook(hook func(ctx context.Context, recs []*messagelog.Record, next func() error) error) Option {
	return func(o *options) {
		o.wrapAppender = func(l logAppender) logAppender { return hookedAppender{l, hook} }
	}
}

type hookedAppender struct {
	next logAppender
	hook func(ctx context.Context, recs []*messagelog.Record, next func() error) error
}

func (h hookedAppender) Append(ctx context.Context, recs ...*messagelog.Record) error {
	return h.hook(ctx, recs, func() error { return h.next.Append(ctx, recs...) })
}
