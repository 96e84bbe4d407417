// Package all registers every platform.
package all

import (
	_ "github.com/ignition-go/ignition/providers/aws"
	_ "github.com/ignition-go/ignition/providers/azure"
	_ "github.com/ignition-go/ignition/providers/azurestack"
	_ "github.com/ignition-go/ignition/providers/file"
	_ "github.com/ignition-go/ignition/providers/gcp"
	_ "github.com/ignition-go/ignition/providers/metal"
	_ "github.com/ignition-go/ignition/providers/qemu"
)
