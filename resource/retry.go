package resource

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Backoff between attempts: 200 ms doubling to a 5 s cap, as Ignition
// measured, with jitter (each wait is drawn from [d/2, 3d/2), capped) so
// that a fleet booting together does not retry in lockstep.
const (
	firstDelay = 200 * time.Millisecond
	maxDelay   = 5 * time.Second
	// maxRetryAfter bounds what a server may ask us to wait.
	maxRetryAfter = 5 * time.Minute
)

type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = firstDelay
	}
	d := b.d
	b.d = min(2*b.d, maxDelay)
	j := d/2 + time.Duration(rand.Int64N(int64(d)))
	return min(j, maxDelay)
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}
