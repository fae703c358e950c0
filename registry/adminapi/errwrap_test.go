package adminapi

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/sluz/sluz/registry/store"
)

// An error answered with a status keeps its cause, and its status wins
// over the cause's.
func TestErrorfKeepsTheCause(t *testing.T) {
	cause := fmt.Errorf("%w: no member AZ/GOV/X", store.ErrNotFound)
	err := errorf(http.StatusBadRequest, "batch change %d: %w", 2, cause)
	if want := "batch change 2: " + cause.Error(); err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatal("errors.Is lost the cause")
	}
	if got := statusOf(err); got != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", got)
	}
}
