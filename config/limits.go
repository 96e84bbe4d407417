package config

// Limits on what is read as a config. A config (from any source: a URL on
// the kernel command line, a merge or replace reference, a platform's
// metadata service, a file given to ignition-validate or its standard
// input) larger than MaxConfigSize is refused with an error naming the
// source, and a CA bundle larger than MaxCABundleSize likewise: a source
// that streams without end costs at most about the cap in memory.
const (
	MaxConfigSize   = 128 << 20 // 128 MiB
	MaxCABundleSize = 8 << 20   // 8 MiB
)
