// Package metadata holds what the HTTP metadata-service providers share:
// one logged fetch of the user data with the platform's "no config" rule,
// and the decodings clouds apply to it (base64, gzip).
package metadata

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

// NotFound says what a 404 from the user-data URL means on a platform.
type NotFound int

const (
	// NotFoundIsEmpty: no user data was given (most clouds).
	NotFoundIsEmpty NotFound = iota
	// NotFoundIsError: a 404 fails the fetch (DigitalOcean, as Ignition).
	NotFoundIsError
)

// Fetch gets the user data at url, described by what in the log. A 404 is
// ErrNoConfig or an error as nf says; an empty body is ErrNoConfig. The
// body is capped at config.MaxConfigSize unless o.MaxSize says otherwise.
func Fetch(ctx context.Context, e *providers.Env, what, url string, o resource.Options, nf NotFound) ([]byte, error) {
	done := e.Log.Op("fetching %s", what)
	if o.MaxSize == 0 {
		o.Config = true
	}
	b, err := e.Fetcher.FetchBytes(ctx, url, o)
	if err != nil && ctx.Err() != nil {
		// a race another source won (OpenStack), or the stage stopping
		done(nil)
		e.Log.Infof("%s: stopped (%v)", what, context.Cause(ctx))
		return nil, err
	}
	if errors.Is(err, resource.ErrNotFound) && nf == NotFoundIsEmpty {
		done(nil)
		e.Log.Infof("%s: not found (404): no user data", what)
		return nil, providers.ErrNoConfig
	}
	done(err)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		e.Log.Infof("%s: empty", what)
		return nil, providers.ErrNoConfig
	}
	return b, nil
}

// MaxEncoded caps the base64 of a config of config.MaxConfigSize (4/3 of
// it), rounded up to a MiB: the MaxSize of a fetch of base64 user data.
const MaxEncoded = (config.MaxConfigSize/3*4 + 1<<20 - 1) &^ (1<<20 - 1)

// Base64 decodes standard base64, padded or not, ignoring whitespace
// (line breaks).
func Base64(b []byte, what string) ([]byte, error) {
	s := strings.Join(strings.Fields(string(b)), "")
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		out, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not base64: %w", what, err)
	}
	return out, nil
}

// IsGzip tells whether b starts with the gzip magic.
func IsGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// Gunzip decompresses b, refusing more than config.MaxConfigSize.
func Gunzip(b []byte, what string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: gzip: %w", what, err)
	}
	defer zr.Close()
	out, err := providers.ReadConfig(zr, what+" (gunzipped)")
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MaybeGunzip decompresses b when it is gzip, and returns it as it is
// otherwise.
func MaybeGunzip(b []byte, what string) ([]byte, error) {
	if IsGzip(b) {
		return Gunzip(b, what)
	}
	return b, nil
}

// Strp returns a pointer to s, for header values.
func Strp(s string) *string { return &s }

// Header is one request header.
func Header(name, value string) config.HTTPHeader {
	return config.HTTPHeader{Name: name, Value: Strp(value)}
}
