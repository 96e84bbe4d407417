package resource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// S3 is fetched with plain signed GETs rather than the SDK's S3 client: the
// SDK contributes only its credential chain (the instance role through
// IMDS) and its SigV4 signer, which keeps the binary small.

// s3Object is where an s3:// URL or S3 ARN points.
type s3Object struct {
	bucket, key, versionID string
	partition              string // from an ARN; "" for s3:// URLs
	region                 string // from an access-point ARN
	accessPoint, account   string
}

// partitionHints are the regions asked for a bucket's region in each partition.
var partitionHints = map[string]string{"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}

func parseS3(u *url.URL) (s3Object, error) {
	o := s3Object{versionID: u.Query().Get("versionId")}
	switch u.Scheme {
	case "s3":
		o.bucket, o.key = u.Host, strings.TrimPrefix(u.Path, "/")
	case "arn":
		// arn:<partition>:s3:<region>:<account>:<resource>
		parts := strings.SplitN(u.Opaque, ":", 5)
		if len(parts) != 5 || parts[1] != "s3" {
			return o, fmt.Errorf("%w: not an S3 ARN", ErrFailed)
		}
		o.partition, o.region, o.account = parts[0], parts[2], parts[3]
		res := parts[4]
		if ap, ok := strings.CutPrefix(res, "accesspoint/"); ok {
			name, key, ok := strings.Cut(ap, "/object/")
			if !ok || name == "" || key == "" || o.region == "" || o.account == "" {
				return o, fmt.Errorf("%w: access-point ARN needs a region, an account and accesspoint/<name>/object/<key>", ErrFailed)
			}
			o.accessPoint, o.key = name, key
		} else {
			o.bucket, o.key, _ = strings.Cut(res, "/")
			o.region = ""
		}
	}
	if o.accessPoint == "" && (o.bucket == "" || o.key == "") {
		return o, fmt.Errorf("%w: S3 source needs a bucket and a key", ErrFailed)
	}
	return o, nil
}

// dnsSuffix is the S3 domain of a region's partition.
func dnsSuffix(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

// endpoint is the https URL of an object: virtual-hosted style, or path
// style when the bucket name has dots (they break TLS wildcards).
func (o s3Object) endpoint(region string) *url.URL {
	u := &url.URL{Scheme: "https"}
	switch {
	case o.accessPoint != "":
		u.Host = fmt.Sprintf("%s-%s.s3-accesspoint.%s.%s", o.accessPoint, o.account, region, dnsSuffix(region))
		u.Path = "/" + o.key
	case strings.Contains(o.bucket, "."):
		u.Host = fmt.Sprintf("s3.%s.%s", region, dnsSuffix(region))
		u.Path = "/" + o.bucket + "/" + o.key
	default:
		u.Host = fmt.Sprintf("%s.s3.%s.%s", o.bucket, region, dnsSuffix(region))
		u.Path = "/" + o.key
	}
	if o.versionID != "" {
		u.RawQuery = url.Values{"versionId": {o.versionID}}.Encode()
	}
	return u
}

func (f *Fetcher) fetchS3(ctx context.Context, u *url.URL, w io.Writer, o Options) error {
	obj, err := parseS3(u)
	if err != nil {
		return err
	}
	so := f.s3Options()
	creds, signed := f.awsCredentials(ctx, so)
	region := obj.region
	if region == "" {
		hint := so.Region
		if p := obj.partition; p != "" && (hint == "" || partitionOf(hint) != p) {
			hint = partitionHints[p]
		}
		if hint == "" {
			hint = partitionHints["aws"]
		}
		region = f.bucketRegion(ctx, obj.bucket, hint)
	}
	target := obj.endpoint(region)
	var prep func(*http.Request) error
	if signed {
		signer := v4.NewSigner()
		prep = func(r *http.Request) error {
			const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
			r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
			return signer.SignHTTP(r.Context(), creds, r, emptySHA256, "s3", region, time.Now(),
				func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true })
		}
	}
	o.Headers = nil // headers are for http(s) sources only
	return f.fetchHTTPWith(ctx, target, w, o, prep)
}

func partitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// awsCredentials: the configured provider, else on AWS the instance role,
// else none (anonymous requests, for public buckets).
func (f *Fetcher) awsCredentials(ctx context.Context, so S3Options) (aws.Credentials, bool) {
	p := so.Credentials
	if p == nil {
		if !so.InstanceRole {
			return aws.Credentials{}, false
		}
		p = ec2rolecreds.New(func(o *ec2rolecreds.Options) {
			o.Client = imds.New(imds.Options{HTTPClient: f.client()})
		})
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := p.Retrieve(cctx)
	if err != nil {
		f.logf("S3: no AWS credentials (%v); fetching anonymously", err)
		return aws.Credentials{}, false
	}
	return c, true
}

// bucketRegion asks S3 where a bucket lives (HEAD on the bucket answers
// with x-amz-bucket-region, even when access is denied); the hint stands
// when S3 does not say.
func (f *Fetcher) bucketRegion(ctx context.Context, bucket, hint string) string {
	u := s3Object{bucket: bucket}.endpoint(hint)
	u.Path = "/"
	var bo backoff
	for attempt := 1; attempt <= 5; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
		if err != nil {
			return hint
		}
		resp, err := f.client().Do(req)
		if err == nil {
			resp.Body.Close()
			if r := resp.Header.Get("X-Amz-Bucket-Region"); r != "" {
				return r
			}
			if resp.StatusCode < 500 {
				return hint
			}
			err = errors.New(resp.Status)
		}
		if ctx.Err() != nil {
			return hint
		}
		d := bo.next()
		f.logf("S3: finding the region of bucket %s: %v; retrying in %v", bucket, redactURLError(err), d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return hint
		case <-time.After(d):
		}
	}
	return hint
}
