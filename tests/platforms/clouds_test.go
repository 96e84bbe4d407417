package platforms

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ignition-go/ignition/internal/testnet"
	"github.com/ignition-go/ignition/tests/fakes"
)

func TestAWS(t *testing.T) {
	testnet.EC2MockBinary(t)
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	t.Run("user data", func(t *testing.T) {
		testnet.StartEC2Mock(t, []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/aws","contents":{"source":"s3://configs/aws"}}]}}`), "cn-north-1")
		m := newMachine(t)
		r := m.run("aws", "fetch-offline")
		if r.code != 0 || !m.exists("neednet") || m.exists("ignition.json") {
			t.Fatalf("fetch-offline: exit %d, neednet %v, cache %v\n%s", r.code, m.exists("neednet"), m.exists("ignition.json"), r.out)
		}
		r = m.run("aws", "fetch")
		c, _ := m.cache()
		// the user data's file, under the platform fragment's /etc/hostname
		if r.code != 0 || strings.Join(files(c), ",") != "/etc/hostname,/etc/aws" {
			t.Fatalf("fetch: exit %d, cache %v\n%s%s", r.code, c, r.out, r.stderr)
		}
		mustContain(t, "log", r.out, "AWS: region cn-north-1", "fetching user data from the EC2 instance metadata service")
		t.Logf("aws: process start to config cached: %v", r.took.Round(time.Millisecond))
	})
	t.Run("IMDSv1 only", func(t *testing.T) {
		// an instance metadata service that predates IMDSv2: the token call is not served
		serveAt(t, "169.254.169.254:80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPut:
				http.NotFound(w, r)
			case r.URL.Path == "/latest/user-data" && r.Header.Get("X-aws-ec2-metadata-token") == "":
				w.Write([]byte(`{"ignition":{"version":"3.1.0"},"storage":{"files":[{"path":"/etc/v1"}]}}`))
			case r.URL.Path == "/latest/meta-data/placement/region":
				w.Write([]byte("eu-west-1"))
			default:
				http.NotFound(w, r)
			}
		}))
		m := newMachine(t)
		r := m.run("aws", "fetch")
		if c, _ := m.cache(); r.code != 0 || strings.Join(files(c), ",") != "/etc/v1" {
			t.Fatalf("fetch from IMDSv1: exit %d, cache %v\n%s", r.code, c, r.out)
		}
		mustContain(t, "log", r.out, "IMDSv2 token not served; using IMDSv1", "AWS: region eu-west-1")
	})
	t.Run("invalid user data", func(t *testing.T) {
		testnet.StartEC2Mock(t, []byte("1234,john,reboot,true\n"), "us-east-1")
		m := newMachine(t)
		r := m.run("aws", "fetch")
		if r.code != 1 || m.exists("ignition.json") {
			t.Fatalf("fetch of non-JSON user data: exit %d, cache %v; want 1, none\n%s", r.code, m.exists("ignition.json"), r.out)
		}
		mustContain(t, "log", r.out, "error at line 1 col 5: invalid character ',' after top-level value")
	})
}

// GCE: the metadata server is down for the first 10 s of boot, then serves
// the user-data attribute; later, an instance without one gets an empty
// config.
func TestGCE(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	gce := &fakes.GCE{UserData: []byte(`{"ignition":{"version":"3.2.0"},"storage":{"files":[{"path":"/etc/gce"}]}}`)}
	go func() {
		time.Sleep(10 * time.Second)
		l, err := net.Listen("tcp", "169.254.169.254:80")
		if err == nil {
			go serveListener(l, gce)
		}
	}()
	m := newMachine(t)
	r := m.run("gcp", "fetch", "-fetch-timeout", "60s")
	c, _ := m.cache()
	if r.code != 0 || strings.Join(files(c), ",") != "/etc/gce" {
		t.Fatalf("fetch: exit %d, cache %v\n%s%s", r.code, c, r.out, r.stderr)
	}
	if r.took < 10*time.Second {
		t.Errorf("fetch took %v; the metadata server was down for 10 s", r.took)
	}
	mustContain(t, "log", r.out, "connection refused; retrying in")
	t.Logf("gcp: metadata down 10 s: config cached %v after process start, %d retries logged", r.took.Round(time.Millisecond), strings.Count(r.out, "retrying in"))

	gce.UserData = nil // 404: no config
	m = newMachine(t)
	r = m.run("gcp", "fetch")
	if c, _ := m.cache(); r.code != 0 || len(files(c)) != 0 {
		t.Fatalf("fetch without user-data: exit %d, cache %v\n%s", r.code, c, r.out)
	}
	mustContain(t, "log", r.out, "no user config; continuing with an empty config")
	t.Logf("gcp: no user-data: empty config cached in %v", r.took.Round(time.Millisecond))
}

// Azure: userData from IMDS (after its warm-up 410s and 429s), the cloud
// from azEnvironment, Ready to the wireserver after the files stage, and
// NotReady with the reason when a stage fails.
func TestAzure(t *testing.T) {
	if !testnet.InNetns(t, "169.254.169.254", "168.63.129.16") {
		return
	}
	imds := &fakes.AzureIMDS{Environment: "AzureChinaCloud", WarmUp: 3,
		UserData: []byte(`{"ignition":{"version":"3.4.0"},"kernelArguments":{"shouldExist":["console=ttyS0"]}}`)}
	wire := &fakes.Wireserver{}
	serveAt(t, "169.254.169.254:80", imds)
	serveAt(t, "168.63.129.16:80", wire)

	m := newMachine(t)
	m.env = append(m.env, "IGNITION_KARGS_HELPER=/bin/true")
	r := m.run("azure", "fetch-offline")
	if r.code != 0 || !m.exists("neednet") {
		t.Fatalf("fetch-offline: exit %d, neednet %v\n%s", r.code, m.exists("neednet"), r.out)
	}
	r = m.run("azure", "fetch")
	if r.code != 0 || !m.exists("ignition.json") {
		t.Fatalf("fetch: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	mustContain(t, "log", r.out, "Azure: cloud AzureChinaCloud", "HTTP 410 Gone; retrying in", "HTTP 429 Too Many Requests; retrying in")
	t.Logf("azure: process start to config cached: %v", r.took.Round(time.Millisecond))
	for _, stage := range []string{"kargs", "disks", "mount", "files", "umount"} {
		if r := m.run("azure", stage); r.code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", stage, r.code, r.out, r.stderr)
		}
	}
	reps := wire.Reports()
	if len(reps) != 1 || reps[0].State != "Ready" || reps[0].Incarnation != "1" {
		t.Fatalf("health reports = %+v; want one Ready after the files stage", reps)
	}

	// a failing stage reports NotReady with what failed
	imds.UserData = []byte(`{"ignition":{"version":"3.4.0"},"storage":{"disks":[{"device":"/dev/null","wipeTable":true}]},"passwd":{"users":[{"name":"a","passwordHash":"$6$SECRET"}]}}`)
	m = newMachine(t)
	m.run("azure", "fetch")
	r = m.run("azure", "disks")
	if r.code != 1 {
		t.Fatalf("disks with unsupported content: exit %d; want 1", r.code)
	}
	reps = wire.Reports()
	last := reps[len(reps)-1]
	if len(reps) != 2 || last.State != "NotReady" || last.SubStatus != "ProvisioningFailed" || !strings.Contains(last.Description, "disks stage failed") {
		t.Fatalf("health reports = %+v; want NotReady with the failure", reps)
	}
	if strings.Contains(last.Description, "SECRET") {
		t.Errorf("the failure report leaked a secret: %q", last.Description)
	}
	t.Logf("azure: NotReady description: %q", last.Description)

	// empty userData: the provider looks for the provisioning CD-ROM, for as
	// long as the fetch timeout allows (there is none here), and says so
	imds.UserData = nil
	m = newMachine(t)
	r = m.run("azure", "fetch", "-fetch-timeout", "3s")
	if r.code != 1 || r.took > 8*time.Second {
		t.Fatalf("fetch without userData or CD-ROM: exit %d after %v; want 1 after about 3 s\n%s", r.code, r.took, r.out)
	}
	mustContain(t, "log", r.out, "IMDS userData is empty; looking for custom data on the provisioning CD-ROM (up to 3s)", "no provisioning CD-ROM after 3s")
	if n := len(wire.Reports()); n != 3 || wire.Reports()[2].State != "NotReady" {
		t.Errorf("health reports = %+v; want a third, NotReady", wire.Reports())
	}
}
