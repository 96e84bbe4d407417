package stages

import "testing"

// Labels are looked for under the names udev gives their links (blkid's
// ID_FS_LABEL_ENC): a label with a "/" or a shell character is found, and
// never names another path.
func TestUdevEncode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"config-2", "config-2"},
		{"IGNITION_1.x:y=z@#+", "IGNITION_1.x:y=z@#+"},
		{"my label", `my\x20label`},
		{"a/b", `a\x2fb`},
		{"../etc", `..\x2fetc`},
		{`cfg$(x);1`, `cfg\x24\x28x\x29\x3b1`},
		{`back\slash`, `back\x5cslash`},
		{"é/x", `é\x2fx`},
		{"bad\xffutf8", `bad\xffutf8`},
	} {
		if got := udevEncode(c.in); got != c.want {
			t.Errorf("udevEncode(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}
