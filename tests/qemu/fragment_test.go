package qemu

import (
	"strings"
	"testing"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/tests/fakes"
)

// Azure with no custom data and an IMDS that names no admin user (Azure
// Stack Hub, older images): the provisioning CD's ovf-env.xml gives the
// user, the host name and the keys, rendered under an empty user config.
func TestAzurePlatformFragmentFromOvfEnv(t *testing.T) {
	testenv.NeedTools(t, "genisoimage", "socat")
	imds := &fakes.AzureIMDS{Environment: "AzureStackCloud"}
	imdsAddr := serveLoopback(t, imds)

	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0p7i9bqfB9YVwJm2PQm7o2x8g6m1c0p7S2b9zVh3a op@desk"
	iso := provisioningMediaWith(t, `<?xml version="1.0" encoding="utf-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:wa="http://schemas.microsoft.com/windowsazure">
 <wa:ProvisioningSection><wa:Version>1.0</wa:Version>
  <LinuxProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure">
   <ConfigurationSetType>LinuxProvisioningConfiguration</ConfigurationSetType>
   <HostName>stack-vm-3</HostName><UserName>stackadmin</UserName>
   <SSH><PublicKeys><PublicKey><Fingerprint>00</Fingerprint><Path>/home/stackadmin/.ssh/authorized_keys</Path><Value>`+key+`</Value></PublicKey></PublicKeys></SSH>
  </LinuxProvisioningConfigurationSet>
 </wa:ProvisioningSection>
</Environment>`, nil) // no custom data
	ifup := "@ifup eth0 169.254.0.15/16"
	fetch := "/bin/ignition -platform azure -stage fetch -fetch-timeout 60s" + ignitionArgs
	cat := "@cat /run/ignition.json"
	res := guest{
		mods:     []string{"virtio_pci", "virtio_net", "ahci", "sr_mod", "udf"},
		commands: []string{ifup, fetch, cat},
		qemuArgs: append(imdsOnly(imdsAddr), "-drive", "file="+iso+",media=cdrom,readonly=on"),
	}.boot(t)
	r := res[fetch]
	if r.rc != 0 {
		t.Fatalf("fetch in the guest: rc %d\n%s", r.rc, r.out)
	}
	if !strings.Contains(r.out, `platform fragment from azure: hostname "stack-vm-3"; user "stackadmin" with 1 SSH key(s) SHA256:`) {
		t.Errorf("the log does not show the fragment:\n%s", r.out)
	}
	if strings.Contains(r.out, "AAAAC3NzaC1lZDI1NTE5AAAAIGb0") {
		t.Errorf("the log shows the key itself:\n%s", r.out)
	}
	cached := res[cat].out
	for _, want := range []string{`"name":"stackadmin"`, key, `"path":"/etc/hostname"`, "data:,stack-vm-3%0A"} {
		if !strings.Contains(cached, want) {
			t.Errorf("the cached config lacks %s:\n%s", want, cached)
		}
	}
}
