module github.com/ignition-go/ignition

go 1.26.8

require (
	github.com/aws/aws-sdk-go-v2 v1.41.1
	github.com/aws/aws-sdk-go-v2/credentials v1.19.7
	github.com/aws/aws-sdk-go-v2/feature/ec2/imds v1.18.17
	github.com/coreos/go-json v0.0.0-20231102161613-e49c8866685a
	github.com/coreos/go-semver v0.3.1
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/johannesboyne/gofakes3 v0.0.0-20250603205740-ed9094be7668
	github.com/pin/tftp/v3 v3.1.0
	github.com/vincent-petithory/dataurl v1.0.0
	golang.org/x/net v0.49.0
)

require (
	github.com/aws/aws-sdk-go v1.44.256 // indirect
	github.com/aws/smithy-go v1.24.0 // indirect
	github.com/ryszard/goskiplist v0.0.0-20150312221310-2dfbae5fcf46 // indirect
	go.shabbyrobe.org/gocovmerge v0.0.0-20230507111327-fa4f82cfbf4d // indirect
	golang.org/x/sys v0.40.0 // indirect
	golang.org/x/text v0.33.0 // indirect
	golang.org/x/tools v0.40.0 // indirect
)
