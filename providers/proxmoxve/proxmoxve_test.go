package proxmoxve

import "testing"

func TestIsIgnition(t *testing.T) {
	for in, want := range map[string]bool{"#cloud-config\nusers: []\n": false, " {\"ignition\":{}}": true, "#!/bin/sh\n": false, "": false} {
		if got := isIgnition([]byte(in)); got != want {
			t.Errorf("isIgnition(%q) = %v; want %v", in, got, want)
		}
	}
}
