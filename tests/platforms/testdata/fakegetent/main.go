// Command fakegetent is a target's getent that misbehaves, for the tests
// of the files stage's lookups through the target's own getent (run
// chrooted in the target). What it does is read from /etc/fake-getent in
// the target: "hang" (a child that keeps standard output open, and
// itself, sleep for an hour), "flood" (writes without end), "garbage"
// (prints a line that is no passwd or group line), "other" (answers with
// root's line whatever is asked). Each run appends its pid to
// /fake-getent.pids.
package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		note()
		time.Sleep(time.Hour)
		return
	}
	note()
	mode, _ := os.ReadFile("/etc/fake-getent")
	switch strings.TrimSpace(string(mode)) {
	case "hang":
		c := exec.Command(os.Args[0], "child")
		c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr // no /dev/null in a bare root
		c.Start()
		time.Sleep(time.Hour)
	case "flood":
		b := []byte(strings.Repeat("x", 1<<16))
		for {
			if _, err := os.Stdout.Write(b); err != nil {
				os.Exit(1)
			}
		}
	case "garbage":
		os.Stdout.WriteString("<html>not a passwd line</html>\n")
	case "other":
		if len(os.Args) > 1 && os.Args[1] == "group" {
			os.Stdout.WriteString("root:x:0:\n")
		} else {
			os.Stdout.WriteString("root:x:0:0:root:/root:/bin/bash\n")
		}
	default:
		os.Exit(2)
	}
}

func note() {
	f, err := os.OpenFile("/fake-getent.pids", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
		f.Close()
	}
}
