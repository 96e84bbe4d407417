// Package aws reads the user data of an EC2 instance from the instance
// metadata service (IMDSv2 token, IMDSv1 when the token call is not
// served), at 169.254.169.254/latest/user-data; no user data is no config.
package aws

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("aws", func() providers.Provider { return &aws{} }) }

const imds = "http://169.254.169.254"

type aws struct{}

func strp(s string) *string { return &s }

// token asks for an IMDSv2 session token; "" when the instance only
// serves IMDSv1 (the token call answers 404, or 405 on some emulators).
func token(ctx context.Context, e *providers.Env) (string, error) {
	t, err := e.Fetcher.FetchBytes(ctx, imds+"/latest/api/token", resource.Options{
		Method:  http.MethodPut,
		Headers: []config.HTTPHeader{{Name: "X-aws-ec2-metadata-token-ttl-seconds", Value: strp("21600")}},
	})
	if errors.Is(err, resource.ErrNotFound) {
		e.Log.Infof("IMDSv2 token not served; using IMDSv1")
		return "", nil
	}
	return strings.TrimSpace(string(t)), err
}

func get(ctx context.Context, e *providers.Env, tok, path string) ([]byte, error) {
	return e.Fetcher.FetchBytes(ctx, imds+path, resource.Options{Headers: tokenHeader(tok)})
}

// getConfig fetches user data: a config, capped at config.MaxConfigSize.
func getConfig(ctx context.Context, e *providers.Env, tok, path string) ([]byte, error) {
	return e.Fetcher.FetchBytes(ctx, imds+path, resource.Options{Headers: tokenHeader(tok), Config: true})
}

func tokenHeader(tok string) []config.HTTPHeader {
	if tok == "" {
		return nil
	}
	return []config.HTTPHeader{{Name: "X-aws-ec2-metadata-token", Value: &tok}}
}

// Init gives the fetcher the instance's region, so that s3:// URLs are
// fetched in the instance's partition (AWS China, GovCloud) and signed
// with the instance role. Offline it does nothing.
func (a *aws) Init(ctx context.Context, e *providers.Env) error {
	if e.Fetcher.Offline {
		return nil
	}
	tok, err := token(ctx, e)
	if err != nil {
		e.Log.Warnf("AWS: no IMDS token, S3 region unknown: %v", err)
		return nil
	}
	r, err := get(ctx, e, tok, "/latest/meta-data/placement/region")
	if err != nil || len(r) == 0 {
		e.Log.Warnf("AWS: region unknown (%v); S3 assumes us-east-1", err)
		return nil
	}
	region := strings.TrimSpace(string(r))
	e.Fetcher.SetS3(resource.S3Options{Region: region, InstanceRole: true})
	e.Log.Infof("AWS: region %s", region)
	return nil
}

func (a *aws) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	done := e.Log.Op("fetching user data from the EC2 instance metadata service")
	tok, err := token(ctx, e)
	if err != nil {
		done(err)
		return nil, err
	}
	b, err := getConfig(ctx, e, tok, "/latest/user-data")
	if errors.Is(err, resource.ErrNotFound) {
		done(nil)
		return nil, providers.ErrNoConfig
	}
	done(err)
	return b, err
}
