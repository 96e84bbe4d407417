package qemu

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testenv"
	"github.com/ignition-go/ignition/internal/testnet"
	"github.com/ignition-go/ignition/tests/fakes"
)

// metadataNet is QEMU's user network as a cloud's: the guest (DHCP from
// QEMU, ip=dhcp) reaches 169.254.169.254:80, and each extra guest
// address:80, on the host's loopback servers. The network (168.0.0.0/7)
// spans the link-local metadata address and Azure's wireserver
// (168.63.129.16); restrict=on keeps the guest off everything else.
func metadataNet(imds string, more map[string]string) []string {
	nd := "user,id=n0,restrict=on,net=168.0.0.0/7,host=169.254.169.2,dhcpstart=169.254.0.15" +
		",guestfwd=tcp:169.254.169.254:80-cmd:socat - TCP:" + imds
	for guest, host := range more {
		nd += ",guestfwd=tcp:" + guest + ":80-cmd:socat - TCP:" + host
	}
	return []string{"-netdev", nd, "-device", "virtio-net-pci,netdev=n0"}
}

// (c) AWS: the config is the instance's user data in AWS's own metadata
// emulator (amazon-ec2-metadata-mock, IMDSv2 enforced: a GET without a
// token is refused), on the host's loopback, reached by the guest at
// 169.254.169.254.
func TestE2EAWS(t *testing.T) {
	img := e2eSetup(t)
	bin := testnet.EC2MockBinary(t)
	cfg, _ := json.Marshal(e2eConfig("3.4.0", map[string]any{"files": []any{e2eFile("/etc/e2e/from-imds", "aws user data")}}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	aemm, _ := json.Marshal(map[string]any{"userdata": map[string]any{"values": map[string]any{"userdata": base64.StdEncoding.EncodeToString(cfg)}}})
	os.WriteFile(filepath.Join(dir, "aemm.json"), aemm, 0o644)
	mock := exec.Command(bin, "-n", "127.0.0.1", "-p", itoa(port), "-I", "-c", filepath.Join(dir, "aemm.json"))
	mock.Dir = dir
	var out strings.Builder
	mock.Stdout, mock.Stderr = &out, &out
	if err := mock.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mock.Process.Kill(); mock.Wait() })
	addr := "127.0.0.1:" + itoa(port)
	if !testnet.WaitTCP(addr, 10*time.Second) {
		t.Fatalf("ec2-metadata-mock did not start: %s", out.String())
	}
	r := e2eBoot{
		cmdline: "ignition.firstboot ignition.platform.id=aws ip=dhcp",
		qemu:    metadataNet(addr, nil),
		until:   e2eEnds,
	}.run(t, img)
	if !slices.Contains(r.lines["E2E-FILE"], "/etc/e2e/from-imds aws user data") {
		t.Errorf("the target lacks the user data's file; it printed %q\nserial:\n%s", r.lines["E2E-FILE"], tail(r.serial, 60))
	}
	r.report(t, "aws, user data over IMDSv2")
}

// (d) Azure: IMDS (a fake on the host) has no userData, so the provider
// reads the custom data from the UDF provisioning CD-ROM; after the files
// stage the provider reports Ready to the wireserver (a fake at
// 168.63.129.16), which records it.
func TestE2EAzure(t *testing.T) {
	img := e2eSetup(t)
	testenv.NeedTools(t, "socat", "genisoimage")
	cfg, _ := json.Marshal(e2eConfig("3.4.0", map[string]any{"files": []any{e2eFile("/etc/e2e/from-azure", "azure custom data")}}))
	iso := provisioningMedia(t, string(cfg))
	// the admin user, host name and key the portal was given: the platform
	// fragment under the custom data
	imds := &fakes.AzureIMDS{AdminUsername: "azureadmin", ComputerName: "e2e-azure-vm",
		PublicKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0p7i9bqfB9YVwJm2PQm7o2x8g6m1c0p7S2b9zVh3a portal"}}
	r, wire := azureBoot(t, img, imds, iso, "")
	if !slices.Contains(r.lines["E2E-FILE"], "/etc/e2e/from-azure azure custom data") {
		t.Errorf("the target lacks the user data's file; it printed %q\nserial:\n%s", r.lines["E2E-FILE"], tail(r.serial, 60))
	}
	if reps := wire.Reports(); len(reps) != 1 || reps[0].State != "Ready" {
		t.Errorf("wireserver health reports = %+v; want one Ready", reps)
	}
	if !slices.Contains(r.lines["E2E-KEYS"], "/home/azureadmin/.ssh/authorized_keys.d/ignition 1 azureadmin:600") {
		t.Errorf("the admin user's key from IMDS is not in place; the target printed %q", r.lines["E2E-KEYS"])
	}
	if !slices.Contains(r.lines["E2E-HOSTNAME"], "e2e-azure-vm") {
		t.Errorf("/etc/hostname = %q; want IMDS's computerName", r.lines["E2E-HOSTNAME"])
	}
	if got, ok := r.userConfigProvided(t); !ok || !got {
		t.Errorf("/etc/.ignition-result.json userConfigProvided = %v (present %v); want true", got, ok)
	}
	r.report(t, "azure, custom data from the UDF CD-ROM, the admin user and host name from IMDS, Ready to the wireserver")
}

// (d2) Azure as the portal makes a VM given only a name, an admin user and
// a key: IMDS has no userData and the provisioning CD's ovf-env.xml no
// CustomData, so there is no user config at all and nothing to carry the
// report unit. The root image has it baked in instead (rootWithReport).
// The platform fragment alone gives the admin user the key and the host
// its name, and the provider still sends Ready.
func TestE2EAzureNoCustomData(t *testing.T) {
	img := e2eSetup(t)
	testenv.NeedTools(t, "socat", "genisoimage", "debugfs")
	const admin, host = "azureadmin", "e2e-azure-bare"
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0p7i9bqfB9YVwJm2PQm7o2x8g6m1c0p7S2b9zVh3a portal"
	// what Azure puts on the CD when the VM has no custom data: the Linux
	// provisioning set, no CustomData element and no CustomData.bin. Its
	// host name and key differ from IMDS's here, so the test tells which
	// one was used: IMDS, which names the admin user.
	const ovfHost, ovfKey = "e2e-azure-from-ovf", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2x9nK1d0fQ2m8s7qz4wXo3YkPp5lRt8a1e6Vb2cH9d ovf"
	iso := provisioningMediaWith(t, `<?xml version="1.0" encoding="utf-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:wa="http://schemas.microsoft.com/windowsazure">
 <wa:ProvisioningSection><wa:Version>1.0</wa:Version>
  <LinuxProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure">
   <ConfigurationSetType>LinuxProvisioningConfiguration</ConfigurationSetType>
   <HostName>`+ovfHost+`</HostName><UserName>`+admin+`</UserName><DisableSshPasswordAuthentication>true</DisableSshPasswordAuthentication>
   <SSH><PublicKeys><PublicKey><Fingerprint>00</Fingerprint><Path>/home/`+admin+`/.ssh/authorized_keys</Path><Value>`+ovfKey+`</Value></PublicKey></PublicKeys></SSH>
  </LinuxProvisioningConfigurationSet>
 </wa:ProvisioningSection>
</Environment>`, nil)
	imds := &fakes.AzureIMDS{AdminUsername: admin, ComputerName: host, PublicKeys: []string{key}} // no UserData
	r, wire := azureBoot(t, img, imds, iso, rootWithReport(t, img))
	if len(r.lines["E2E-TARGET-DONE"]) == 0 {
		t.Fatalf("the target did not report (the first boot did not complete)\nserial:\n%s", tail(r.serial, 80))
	}
	if got, ok := r.userConfigProvided(t); !ok || got {
		t.Errorf("/etc/.ignition-result.json userConfigProvided = %v (present %v); want false", got, ok)
	}
	if want := "/home/" + admin + "/.ssh/authorized_keys.d/ignition 1 " + admin + ":600"; !slices.Equal(r.lines["E2E-KEYS"], []string{want}) {
		t.Errorf("authorized_keys.d files (path, lines, owner:mode) = %q; want [%q]", r.lines["E2E-KEYS"], want)
	}
	sum := sha256.Sum256([]byte(key + "\n"))
	if want := "/home/" + admin + "/.ssh/authorized_keys.d/ignition " + hex.EncodeToString(sum[:]); !slices.Equal(r.lines["E2E-KEYSUM"], []string{want}) {
		t.Errorf("authorized_keys.d files (path, sha256) = %q; want [%q]: IMDS's key, alone", r.lines["E2E-KEYSUM"], want)
	}
	if got := r.lines["E2E-HOSTNAME"]; !slices.Equal(got, []string{host}) {
		t.Errorf("/etc/hostname = %q; want IMDS's computerName %q", got, host)
	}
	if reps := wire.Reports(); len(reps) != 1 || reps[0].State != "Ready" {
		t.Errorf("wireserver health reports = %+v; want one Ready", reps)
	}
	r.report(t, "azure, no custom data (IMDS without userData, a CD without CustomData), the fragment alone, Ready to the wireserver")
}

// azureBoot boots on the azure platform with this IMDS (a fake at
// 169.254.169.254), a wireserver fake at 168.63.129.16 (returned, with
// the health reports it got), the provisioning CD iso ("": none) and the
// root disk root ("": the shared one).
func azureBoot(t *testing.T, img e2eImages, imds *fakes.AzureIMDS, iso, root string) (e2eRun, *fakes.Wireserver) {
	t.Helper()
	wire := &fakes.Wireserver{}
	imdsAddr, wireAddr := serveLoopback(t, imds), serveLoopback(t, wire)
	qemu := metadataNet(imdsAddr, map[string]string{"168.63.129.16": wireAddr})
	if iso != "" {
		qemu = append(qemu, "-drive", "file="+iso+",media=cdrom,readonly=on")
	}
	r := e2eBoot{
		cmdline: "ignition.firstboot ignition.platform.id=azure ip=dhcp",
		qemu:    qemu,
		until:   e2eEnds,
		root:    root,
	}.run(t, img)
	return r, wire
}

// userConfigProvided is what the target's /etc/.ignition-result.json
// (the E2E-RESULT line) says; ok is false when the file is missing.
func (r e2eRun) userConfigProvided(t *testing.T) (provided, ok bool) {
	t.Helper()
	var res struct {
		UserConfigProvided *bool `json:"userConfigProvided"`
	}
	for _, l := range r.lines["E2E-RESULT"] {
		if json.Unmarshal([]byte(l), &res) == nil && res.UserConfigProvided != nil {
			return *res.UserConfigProvided, true
		}
	}
	t.Logf("the target printed no readable result file: %q", r.lines["E2E-RESULT"])
	return false, false
}

func itoa(n int) string { return strconv.Itoa(n) }
