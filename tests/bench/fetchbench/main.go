// Command fetchbench measures the resource fetcher on a large download.
//
//	fetchbench serve -size 1073741824        # prints "URL HASH", serves until killed
//	fetchbench fetch URL HASH OUT            # fetches with sha512 verification into OUT (HASH "-": none)
package main

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/ignition-go/ignition/resource"
)

// pattern is a deterministic, incompressible-looking 1 MiB block.
func pattern() []byte {
	b := make([]byte, 1<<20)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

type repeated struct {
	block []byte
	left  int64
	off   int
}

func (r *repeated) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.block[r.off:])
	if int64(n) > r.left {
		n = int(r.left)
	}
	r.off = (r.off + n) % len(r.block)
	r.left -= int64(n)
	return n, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fetchbench serve [-size N] | fetch URL HASH OUT")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		size := fs.Int64("size", 1<<30, "bytes to serve")
		fs.Parse(os.Args[2:])
		block := pattern()
		h := sha512.New()
		io.Copy(h, &repeated{block: block, left: *size})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		fmt.Printf("http://%s/blob sha512-%s\n", l.Addr(), hex.EncodeToString(h.Sum(nil)))
		os.Stdout.Sync()
		http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.FormatInt(*size, 10))
			io.CopyBuffer(w, &repeated{block: block, left: *size}, make([]byte, 256<<10))
		}))
	case "fetch":
		if len(os.Args) != 5 {
			fmt.Fprintln(os.Stderr, "usage: fetchbench fetch URL HASH OUT")
			os.Exit(2)
		}
		out, err := os.Create(os.Args[4])
		if err != nil {
			panic(err)
		}
		defer out.Close()
		f := &resource.Fetcher{}
		o := resource.Options{Hash: os.Args[3]}
		if o.Hash == "-" {
			o.Hash = "" // transport only
		}
		err = f.Fetch(context.Background(), os.Args[2], out, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
