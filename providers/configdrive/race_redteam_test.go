package configdrive

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// When one source wins (the metadata service answers while the config
// drive is being read), Race returns only after the others have ended:
// the drive's reader unmounts it first, so a fetch stage that exits right
// after Race never leaves the drive mounted.
func TestRaceWaitsForTheLosers(t *testing.T) {
	e := &providers.Env{Fetcher: &resource.Fetcher{}, Log: testenv.NopLog{}}
	cancelled, proceed := make(chan struct{}), make(chan struct{})
	go func() { <-cancelled; close(proceed) }()
	var unmounted atomic.Bool
	b, err := Race(context.Background(), e,
		Source{Name: "metadata service", Fetch: func(context.Context) ([]byte, error) { return []byte("{}"), nil }},
		Source{Name: "config drive", Fetch: func(ctx context.Context) ([]byte, error) {
			<-ctx.Done() // reading the drive when the other source won
			close(cancelled)
			<-proceed
			unmounted.Store(true) // its deferred Close
			return nil, ctx.Err()
		}},
	)
	if string(b) != "{}" || err != nil {
		t.Fatalf("Race() = %q, %v; want the metadata service's {}", b, err)
	}
	if !unmounted.Load() {
		t.Fatal("Race() returned while the config drive source was still running (its drive would stay mounted)")
	}
}
