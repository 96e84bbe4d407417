module github.com/ignition-go/ignition

go 1.26.8

require (
	github.com/coreos/go-json v0.0.0-20231102161613-e49c8866685a
	github.com/coreos/go-semver v0.3.1
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/pin/tftp/v3 v3.1.0
	github.com/vincent-petithory/dataurl v1.0.0
	golang.org/x/net v0.49.0
)

require (
	golang.org/x/sys v0.40.0 // indirect
	golang.org/x/text v0.33.0 // indirect
)
