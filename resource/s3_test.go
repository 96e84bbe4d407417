package resource

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/ignition-go/ignition/internal/testnet"
)

// The S3 tests run against gofakes3, served over TLS as the real S3
// endpoints of each partition, so that the endpoint the fetcher picks is
// checked by name: a China bucket must be asked for at amazonaws.com.cn.
func TestS3(t *testing.T) {
	backend := s3mem.New()
	regions := map[string]string{ // where each bucket lives
		"configs":           "cn-northwest-1",
		"gov-configs":       "us-gov-west-1",
		"public":            "eu-west-1",
		"myap-123456789012": "us-west-2",
		"dotted.bucket":     "us-east-1",
	}
	put := func(bucket, key, body string) string {
		t.Helper()
		if ok, _ := backend.BucketExists(bucket); !ok {
			if err := backend.CreateBucket(bucket); err != nil {
				t.Fatal(err)
			}
			backend.SetVersioningConfiguration(bucket, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled})
		}
		res, err := backend.PutObject(bucket, key, nil, strings.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		return string(res.VersionID)
	}
	v1 := put("configs", "nodes/worker.ign", `{"ignition":{"version":"3.4.0"}} old`)
	put("configs", "nodes/worker.ign", `{"ignition":{"version":"3.4.0"}}`)
	put("gov-configs", "a.ign", "gov")
	put("public", "p.ign", "public")
	put("myap-123456789012", "dir/key.ign", "through an access point")
	put("dotted.bucket", "k", "dotted")

	fake := gofakes3.New(backend, gofakes3.WithHostBucketBase(
		"s3.cn-north-1.amazonaws.com.cn", "s3.cn-northwest-1.amazonaws.com.cn", "s3.us-east-1.amazonaws.com",
		"s3.us-gov-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com", "s3-accesspoint.us-west-2.amazonaws.com"))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// S3 answers HEAD bucket with the bucket's region; the fake does not.
		if r.Method == http.MethodHead && (r.URL.Path == "/" || r.URL.Path == "") {
			bucket, _, _ := strings.Cut(r.Host, ".s3.")
			w.Header().Set("X-Amz-Bucket-Region", regions[bucket])
		}
		fake.Server().ServeHTTP(w, r)
	})
	f, reqs := publicEndpoint(t, handler,
		"*.s3.cn-north-1.amazonaws.com.cn", "*.s3.cn-northwest-1.amazonaws.com.cn", "*.s3.us-east-1.amazonaws.com",
		"*.s3.us-gov-west-1.amazonaws.com", "*.s3.eu-west-1.amazonaws.com", "*.s3-accesspoint.us-west-2.amazonaws.com",
		"s3.us-east-1.amazonaws.com")
	static := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "SECRETKEYEXAMPLE", "")

	cases := []struct {
		name       string
		source     string
		awsRegion  string
		signed     bool
		want       string
		err        error
		hosts      []string // hosts asked, in order
		signRegion string
	}{
		{name: "s3 URL in China, region from IMDS hint then the bucket", source: "s3://configs/nodes/worker.ign", awsRegion: "cn-north-1", signed: true,
			want: `{"ignition":{"version":"3.4.0"}}`, hosts: []string{"configs.s3.cn-north-1.amazonaws.com.cn", "configs.s3.cn-northwest-1.amazonaws.com.cn"}, signRegion: "cn-northwest-1"},
		{name: "aws-cn ARN off AWS: partition hint, anonymous", source: "arn:aws-cn:s3:::configs/nodes/worker.ign",
			want: `{"ignition":{"version":"3.4.0"}}`, hosts: []string{"configs.s3.cn-north-1.amazonaws.com.cn", "configs.s3.cn-northwest-1.amazonaws.com.cn"}},
		{name: "versionId", source: "s3://configs/nodes/worker.ign?versionId=" + v1, awsRegion: "cn-northwest-1", signed: true,
			want: `{"ignition":{"version":"3.4.0"}} old`, hosts: []string{"configs.s3.cn-northwest-1.amazonaws.com.cn", "configs.s3.cn-northwest-1.amazonaws.com.cn"}, signRegion: "cn-northwest-1"},
		{name: "GovCloud ARN", source: "arn:aws-us-gov:s3:::gov-configs/a.ign", want: "gov",
			hosts: []string{"gov-configs.s3.us-gov-west-1.amazonaws.com", "gov-configs.s3.us-gov-west-1.amazonaws.com"}},
		{name: "public bucket in another region", source: "s3://public/p.ign", want: "public",
			hosts: []string{"public.s3.us-east-1.amazonaws.com", "public.s3.eu-west-1.amazonaws.com"}},
		{name: "access point ARN", source: "arn:aws:s3:us-west-2:123456789012:accesspoint/myap/object/dir/key.ign", signed: true, want: "through an access point",
			hosts: []string{"myap-123456789012.s3-accesspoint.us-west-2.amazonaws.com"}, signRegion: "us-west-2"},
		{name: "dotted bucket uses path style", source: "s3://dotted.bucket/k", want: "dotted",
			hosts: []string{"s3.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com"}},
		{name: "missing key", source: "s3://public/nope.ign", err: ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reqs.reset()
			so := S3Options{Region: c.awsRegion}
			if c.signed {
				so.Credentials = static
			}
			f.SetS3(so)
			got, err := f.FetchBytes(context.Background(), c.source, Options{Hash: map[bool]string{true: sha512Of([]byte(c.want))}[c.err == nil]})
			if !errors.Is(err, c.err) {
				t.Fatalf("FetchBytes(%s) err = %v; want %v", c.source, err, c.err)
			}
			if c.err != nil {
				return
			}
			if !bytes.Equal(got, []byte(c.want)) {
				t.Fatalf("FetchBytes(%s) = %q; want %q", c.source, got, c.want)
			}
			var hosts []string
			var lastAuth string
			for _, r := range reqs.all() {
				hosts = append(hosts, r.Host)
				lastAuth = r.Header.Get("Authorization")
			}
			if strings.Join(hosts, " ") != strings.Join(c.hosts, " ") {
				t.Errorf("FetchBytes(%s) asked hosts %v; want %v", c.source, hosts, c.hosts)
			}
			switch {
			case c.signed && !strings.Contains(lastAuth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || c.signed && !strings.Contains(lastAuth, "/"+c.signRegion+"/s3/aws4_request"):
				t.Errorf("FetchBytes(%s) Authorization = %q; want SigV4 for %s", c.source, lastAuth, c.signRegion)
			case !c.signed && lastAuth != "":
				t.Errorf("FetchBytes(%s) Authorization = %q; want an anonymous request", c.source, lastAuth)
			}
		})
	}
}

func TestParseS3(t *testing.T) {
	bad := []string{"arn:aws:iam::1:role/x", "arn:aws:s3:us-west-2:1:accesspoint/ap", "s3://bucket", "s3:///key"}
	for _, s := range bad {
		u, _ := parseURL(s)
		if _, err := parseS3(u); err == nil {
			t.Errorf("parseS3(%q) = nil error; want one", s)
		}
	}
}

// On AWS the instance role's credentials sign S3 requests: they come from
// AWS's own IMDS emulator (amazon-ec2-metadata-mock, IMDSv2 enforced)
// listening at 169.254.169.254 in a network namespace the test makes.
func TestS3InstanceRole(t *testing.T) {
	testnet.EC2MockBinary(t) // skip early, outside the namespace, when it is missing
	if !testnet.InNetns(t, "169.254.169.254") {
		return
	}
	testnet.StartEC2Mock(t, nil, "")

	backend := s3mem.New()
	backend.CreateBucket("private")
	backend.PutObject("private", "user.ign", nil, strings.NewReader("role-signed"), 11)
	fake := gofakes3.New(backend, gofakes3.WithHostBucketBase("s3.us-east-1.amazonaws.com"))
	f, reqs := publicEndpoint(t, fake.Server(), "*.s3.us-east-1.amazonaws.com")
	s3Dial := f.DialContext
	f.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == "169.254.169.254:80" { // the real address, in this namespace
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		return s3Dial(ctx, network, addr)
	}
	f.SetS3(S3Options{Region: "us-east-1", InstanceRole: true}) // on AWS: sign with the instance role
	got, err := f.FetchBytes(context.Background(), "s3://private/user.ign", Options{})
	if err != nil || string(got) != "role-signed" {
		t.Fatalf("FetchBytes(s3 with the instance role) = %q, %v", got, err)
	}
	all := reqs.all()
	auth := all[len(all)-1].Header.Get("Authorization")
	if !strings.Contains(auth, "Credential=12345678901/") || all[len(all)-1].Header.Get("X-Amz-Security-Token") == "" {
		t.Errorf("Authorization = %q; want SigV4 with the role's key 12345678901 and its session token", auth)
	}
}
