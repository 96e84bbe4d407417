package config

import (
	"strings"
	"testing"

	"github.com/vincent-petithory/dataurl"
)

// The data URL check must give the verdicts and messages of the decoder
// Ignition uses; the reference decoder is linked into tests only.
func sameAsReference(t *testing.T, s string) {
	t.Helper()
	ref, want := dataurl.DecodeString(s)
	got := checkDataURL(s)
	if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
		t.Fatalf("checkDataURL(%q) = %v; want %v", s, got, want)
	}
	data, err := DecodeDataURL(s)
	if (err == nil) != (want == nil) {
		t.Fatalf("DecodeDataURL(%q) err = %v; want %v", s, err, want)
	}
	if err == nil && string(data) != string(ref.Data) {
		t.Fatalf("DecodeDataURL(%q) = %q; want %q", s, data, ref.Data)
	}
}

var dataURLSeeds = []string{
	"data:,", "data:,hello", "data:,a%20b", "data:,a%2", "data:,a%zz", "data:,a b", "data:,ü",
	"data:;base64,aGVsbG8=", "data:;base64,aGVsbG8", "data:;base64,!!!", "data:;base64,aGVs\nbG8=",
	"data:text/plain,x", "data:text/plain;charset=utf-8,x", "data:text/plain;charset=\"utf-8\",x",
	"data:text/plain;charset=\"a\\\"b\",x", "data:text/plain;charset=\"a\\q\",x", "data:text/plain;charset=\"\";b=x%zz,y",
	"data:text/plain;charset=%zz,x", "data:text/plain;base64,eA==", "data:text/plain;base64;x=y,eA==",
	"data:text/plain;charset,x", "data:text/plain;=x,y", "data:text/plain;,x", "data:text/plain;",
	"data:foo/bar,x", "data:textual/bar,x", "data:Text/plain,x", "data:x-foo/bar,x", "data:X-foo/bar,x",
	"data:x/y,z", "data:xy/z,a", "data:x;y,z", "data:x", "data:", "data:text", "data:text/", "data:text/,x",
	"data:text/pl/ain,x", "data:text/plain x,y", "data:/plain,x", "data:;", "data:;,x", "data:;=,x",
	"data:text/plain;a=\"unterminated", "data:text/plain;a=\"x\"y,z", "data:text/plain;a=\"x\"", "data:text/plain;a=b",
	"data:text/plain;a=\"\\", "data:text/plain;a=\"\\é\",x", "data:text/plain;a=\"é\",x", "data:text/plain;a=\"\n\",x",
	"DATA:,x", "data:application/json;base64,e30=", "data:image/png;base64,", "data:,%",
}

func TestDataURLMatchesReference(t *testing.T) {
	for _, s := range dataURLSeeds {
		sameAsReference(t, s)
	}
}

func FuzzDataURL(f *testing.F) {
	for _, s := range dataURLSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !strings.HasPrefix(s, "data:") {
			s = "data:" + s
		}
		sameAsReference(t, s)
	})
}
