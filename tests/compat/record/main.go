// Command record runs a reference ignition-validate on every config of a
// corpus (JSON lines of {"name", "config"} on stdin) and writes the corpus
// back with what it printed and its exit status, for the compatibility test.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
)

type rec struct {
	Name   string `json:"name"`
	Config string `json:"config"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Exit   int    `json:"exit"`
}

func main() {
	bin := flag.String("validate", "ignition-validate", "reference ignition-validate binary")
	flag.Parse()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	enc := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			panic(err)
		}
		cmd := exec.Command(*bin, "-")
		cmd.Stdin = bytes.NewReader([]byte(r.Config))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.Exit = ee.ExitCode()
		} else if err != nil {
			panic(err)
		}
		r.Stdout, r.Stderr = out.String(), errb.String()
		if err := enc.Encode(r); err != nil {
			panic(err)
		}
	}
	if err := sc.Err(); err != nil {
		panic(err)
	}
}
