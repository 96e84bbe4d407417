package resource

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testnet"
)

func TestTFTP(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("pxe boot config block "), 20000) // 440 kB: many 512-byte blocks
	if err := os.WriteFile(filepath.Join(dir, "big.ign"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "small.ign"), []byte(`{"ignition":{"version":"3.4.0"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testnet.StartTFTPD(t, dir)
	f := &Fetcher{TotalTimeout: 20 * time.Second}

	got, err := f.FetchBytes(context.Background(), "tftp://"+addr+"/big.ign", Options{Hash: sha512Of(big)})
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("FetchBytes(tftp big) = %d bytes, %v; want %d bytes", len(got), err, len(big))
	}
	got, err = f.FetchBytes(context.Background(), "tftp://"+addr+"/sub/small.ign", Options{})
	if err != nil || !strings.Contains(string(got), "3.4.0") {
		t.Fatalf("FetchBytes(tftp sub/small) = %q, %v", got, err)
	}
	if _, err := f.FetchBytes(context.Background(), "tftp://"+addr+"/missing.ign", Options{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FetchBytes(tftp missing) err = %v; want ErrNotFound", err)
	}
	if _, err := f.FetchBytes(context.Background(), "tftp://"+addr+"/big.ign", Options{Hash: sha512Of([]byte("x"))}); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("FetchBytes(tftp wrong hash) err = %v; want ErrHashMismatch", err)
	}
}

// Ignition takes 31 s to give up on a closed TFTP port whatever its
// timeout; we retry within the deadline and stop at it.
func TestTFTPClosedPortObeysDeadline(t *testing.T) {
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	addr := pc.LocalAddr().String()
	pc.Close()
	var log logRecorder
	f := &Fetcher{Log: log.logf, TotalTimeout: 3 * time.Second}
	start := time.Now()
	_, err := f.FetchBytes(context.Background(), "tftp://"+addr+"/x.ign", Options{})
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("FetchBytes(closed tftp port) err = %v; want ErrTimeout", err)
	}
	if took > 4*time.Second {
		t.Errorf("FetchBytes(closed tftp port) took %v; want about the 3 s deadline", took)
	}
	if !strings.Contains(log.String(), "retrying in") {
		t.Errorf("log = %q; want the retries logged", log.String())
	}
	t.Logf("closed port: gave up after %v: %v", took.Round(time.Millisecond), err)
}
