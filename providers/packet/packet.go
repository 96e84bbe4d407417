// Package packet reads the user data of an Equinix Metal (Packet) server
// from metadata.packet.net/userdata over https (a 404 is no config), and
// posts how provisioning went to the user_state_url the server's metadata
// names.
package packet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/ignition-go/ignition/config"
	"github.com/ignition-go/ignition/providers"
	"github.com/ignition-go/ignition/providers/metadata"
	"github.com/ignition-go/ignition/resource"
)

func init() { providers.Register("packet", func() providers.Provider { return packet{} }) }

// Base is the metadata service.
const Base = "https://metadata.packet.net"

// User state event codes and states.
const (
	codeSucceeded = 1001
	codeFailed    = 1002
	maxMessage    = 512
)

type packet struct{}

func (packet) Init(context.Context, *providers.Env) error { return nil }

func (packet) Fetch(ctx context.Context, e *providers.Env) ([]byte, error) {
	return metadata.Fetch(ctx, e, "user data from the Equinix Metal metadata service", Base+"/userdata", resource.Options{}, metadata.NotFoundIsEmpty)
}

// Report posts a user state event: succeeded after the files stage, failed
// with what failed otherwise.
func (packet) Report(ctx context.Context, e *providers.Env, ok bool, detail string) error {
	state, code, msg := "succeeded", codeSucceeded, "ignition: provisioning succeeded"
	if !ok {
		state, code, msg = "failed", codeFailed, detail
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage]
	}
	done := e.Log.Op("posting user state %q to the Equinix Metal metadata service", state)
	err := report(ctx, e, state, code, msg)
	done(err)
	return err
}

func report(ctx context.Context, e *providers.Env, state string, code int, msg string) error {
	b, err := e.Fetcher.FetchBytes(ctx, Base+"/metadata", resource.Options{MaxSize: 1 << 20})
	if err != nil {
		return fmt.Errorf("server metadata: %w", err)
	}
	var md struct {
		UserStateURL string `json:"user_state_url"`
	}
	if err := json.Unmarshal(b, &md); err != nil || md.UserStateURL == "" {
		return fmt.Errorf("server metadata names no user_state_url")
	}
	body, _ := json.Marshal(map[string]any{"state": state, "code": code, "message": msg})
	_, err = e.Fetcher.FetchBytes(ctx, md.UserStateURL, resource.Options{
		Method: http.MethodPost, Body: body,
		Headers: []config.HTTPHeader{metadata.Header("Content-Type", "application/json")},
	})
	return err
}
