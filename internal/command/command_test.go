package command

import (
	"context"
	"strings"
	"testing"
)

// A tang URL with a password and a token, inside clevis's JSON argument,
// never reaches the logged argv nor the error of a failed run.
func TestStringRedactsURLs(t *testing.T) {
	c := Cmd{Name: "clevis", Args: []string{"luks", "bind", "-d", "/dev/vdb1", "sss",
		`{"t":1,"pins":{"tang":[{"url":"http://user:hunter2@tang.example/?token=s3cret","thp":"x"}]}}`, "key"}, Secret: []int{6}}
	got := c.String()
	for _, secret := range []string{"hunter2", "s3cret", "user:", "key"} {
		if strings.Contains(got, secret) {
			t.Errorf("Cmd.String() = %s; it holds %q", got, secret)
		}
	}
	if !strings.Contains(got, "http://tang.example/?token=REDACTED") {
		t.Errorf("Cmd.String() = %s; want the URL with its token redacted", got)
	}
}

func TestErrorRedactsStderr(t *testing.T) {
	x := &Exec{}
	_, err := x.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", `echo "curl: cannot reach $0" >&2; exit 3`, "http://u:hunter2@h/?token=s3cret"}})
	if err == nil {
		t.Fatal("sh exit 3: no error")
	}
	for _, secret := range []string{"hunter2", "s3cret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error = %v; it holds %q", err, secret)
		}
	}
	if !strings.Contains(err.Error(), "cannot reach http://h/?token=REDACTED") {
		t.Errorf("error = %v; want the stderr with the URL redacted", err)
	}
}
