package azurestack

import "github.com/ignition-go/ignition/resource"

// The CD-ROM is local, but Ignition reads it only in the fetch stage; so do
// we, so that fetch-offline stays quick.
var errNeedNetOffline = resource.ErrNeedNet
