// Package config is the public config library: one Go type tree for the
// newest Ignition spec, parsing with byte offsets kept, validation that
// reports every problem at once, merge and replace, and JSON Schema
// generation. It is pure Go and builds on every platform.
//
// Every field carries its JSON name and, when it was added after 3.0.0, a
// `since` tag naming the spec version that introduced it. A field newer than
// a config's version is an unknown key for that config, as in Ignition.
package config

// Config is a whole machine config, in the shape of the newest spec.
type Config struct {
	Ignition        Ignition        `json:"ignition" required:"true" doc:"metadata about the config itself"`
	KernelArguments KernelArguments `json:"kernelArguments" since:"3.3.0" doc:"kernel arguments that must or must not be present"`
	Passwd          Passwd          `json:"passwd" doc:"users and groups"`
	Storage         Storage         `json:"storage" doc:"disks, partitions, RAID, LUKS, filesystems, files, directories and links"`
	Systemd         Systemd         `json:"systemd" doc:"systemd units and drop-ins"`
}

// Ignition holds the metadata of a config.
type Ignition struct {
	Config   IgnitionConfig `json:"config" doc:"other configs to merge into this one or to replace it"`
	Proxy    Proxy          `json:"proxy" since:"3.1.0" doc:"HTTP proxies used for fetching"`
	Security Security       `json:"security" doc:"TLS settings for fetching"`
	Timeouts Timeouts       `json:"timeouts" doc:"fetch timeouts"`
	Version  string         `json:"version" required:"true" doc:"spec version of this config, for example 3.6.0"`
}

// IgnitionConfig names configs to merge or to replace this one with.
type IgnitionConfig struct {
	// In 3.0.0 these are config references, which have only source and verification.
	Merge   []Resource `json:"merge" legacy:"source,verification" doc:"configs merged into this one, in order"`
	Replace Resource   `json:"replace" legacy:"source,verification" doc:"a config that replaces this one"`
}

// Proxy configures HTTP proxies for fetching remote resources.
type Proxy struct {
	HTTPProxy  *string  `json:"httpProxy" doc:"proxy URL for http requests"`
	HTTPSProxy *string  `json:"httpsProxy" doc:"proxy URL for https requests"`
	NoProxy    []string `json:"noProxy" doc:"hosts, domains and CIDRs that bypass the proxy"`
}

// Security holds TLS settings.
type Security struct {
	TLS TLS `json:"tls" doc:"TLS settings"`
}

// TLS lists extra certificate authorities.
type TLS struct {
	CertificateAuthorities []Resource `json:"certificateAuthorities" legacy:"source,verification" doc:"PEM bundles added to the system's trusted roots"`
}

// Timeouts for fetching, in seconds.
type Timeouts struct {
	HTTPResponseHeaders *int `json:"httpResponseHeaders" doc:"seconds to wait for response headers (default 10, 0 = no limit)"`
	HTTPTotal           *int `json:"httpTotal" doc:"seconds allowed for a whole fetch including retries (0 = no limit)"`
}

// Resource is a remote or inline source of bytes.
type Resource struct {
	Compression  *string      `json:"compression" enum:",gzip" doc:"compression of the source: empty or gzip"`
	HTTPHeaders  []HTTPHeader `json:"httpHeaders" since:"3.1.0" doc:"extra headers for http and https sources"`
	Source       *string      `json:"source" doc:"URL: http, https, tftp, s3, arn, gs or data"`
	Verification Verification `json:"verification" doc:"hash of the (decompressed) contents"`
}

// HTTPHeader is one extra request header.
type HTTPHeader struct {
	Name  string  `json:"name" required:"true" doc:"header name"`
	Value *string `json:"value" doc:"header value; absent removes a header inherited by merging"`
}

// Verification holds the expected hash of a resource.
type Verification struct {
	Hash *string `json:"hash" doc:"sha512-<hex> or sha256-<hex> (sha256 since 3.1.0)"`
}

// KernelArguments lists arguments that must or must not be on the kernel command line.
type KernelArguments struct {
	ShouldExist    []string `json:"shouldExist" doc:"arguments to add when missing"`
	ShouldNotExist []string `json:"shouldNotExist" doc:"arguments to remove when present"`
}

// Passwd lists users and groups.
type Passwd struct {
	Groups []PasswdGroup `json:"groups" doc:"groups to create, change or delete"`
	Users  []PasswdUser  `json:"users" doc:"users to create, change or delete"`
}

// PasswdGroup is one group.
type PasswdGroup struct {
	Gid          *int    `json:"gid" doc:"group id"`
	Name         string  `json:"name" required:"true" doc:"group name"`
	PasswordHash *string `json:"passwordHash" doc:"hashed group password"`
	ShouldExist  *bool   `json:"shouldExist" since:"3.2.0" doc:"false deletes the group"`
	System       *bool   `json:"system" doc:"create a system group"`
}

// PasswdUser is one user.
type PasswdUser struct {
	Gecos             *string  `json:"gecos" doc:"GECOS field"`
	Groups            []string `json:"groups" doc:"supplementary groups"`
	HomeDir           *string  `json:"homeDir" doc:"home directory"`
	Name              string   `json:"name" required:"true" doc:"user name"`
	NoCreateHome      *bool    `json:"noCreateHome" doc:"do not create the home directory"`
	NoLogInit         *bool    `json:"noLogInit" doc:"do not add the user to lastlog and faillog"`
	NoUserGroup       *bool    `json:"noUserGroup" doc:"do not create a group named after the user"`
	PasswordHash      *string  `json:"passwordHash" doc:"hashed password"`
	PrimaryGroup      *string  `json:"primaryGroup" doc:"primary group"`
	SSHAuthorizedKeys []string `json:"sshAuthorizedKeys" doc:"SSH public keys"`
	Shell             *string  `json:"shell" doc:"login shell"`
	ShouldExist       *bool    `json:"shouldExist" since:"3.2.0" doc:"false deletes the user"`
	System            *bool    `json:"system" doc:"create a system user"`
	UID               *int     `json:"uid" doc:"user id"`
}

// Storage describes disks and the files written to the target root.
type Storage struct {
	Directories []Directory  `json:"directories" doc:"directories to create"`
	Disks       []Disk       `json:"disks" doc:"disks to partition"`
	Files       []File       `json:"files" doc:"files to write"`
	Filesystems []Filesystem `json:"filesystems" doc:"filesystems to create or reuse"`
	Links       []Link       `json:"links" doc:"symbolic and hard links"`
	Luks        []Luks       `json:"luks" since:"3.2.0" doc:"LUKS volumes"`
	Raid        []Raid       `json:"raid" doc:"software RAID arrays"`
}

// Node is what files, directories and links share.
type Node struct {
	Group     NodeGroup `json:"group" doc:"owning group, by id or name"`
	Overwrite *bool     `json:"overwrite" doc:"replace what is already at the path"`
	Path      string    `json:"path" required:"true" doc:"absolute path in the target root"`
	User      NodeUser  `json:"user" doc:"owning user, by id or name"`
}

// NodeUser names an owner by id or by name.
type NodeUser struct {
	ID   *int    `json:"id" doc:"user id"`
	Name *string `json:"name" doc:"user name, resolved in the target root"`
}

// NodeGroup names a group by id or by name.
type NodeGroup struct {
	ID   *int    `json:"id" doc:"group id"`
	Name *string `json:"name" doc:"group name, resolved in the target root"`
}

// File is a regular file to write.
type File struct {
	Node
	Append   []Resource `json:"append" doc:"contents appended in order"`
	Contents Resource   `json:"contents" doc:"the file's contents"`
	Mode     *int       `json:"mode" doc:"permission bits as a decimal integer (420 = 0644)"`
}

// Directory is a directory to create.
type Directory struct {
	Node
	Mode *int `json:"mode" doc:"permission bits as a decimal integer (493 = 0755)"`
}

// Link is a symbolic or hard link.
type Link struct {
	Node
	Hard   *bool   `json:"hard" doc:"make a hard link instead of a symbolic one"`
	Target *string `json:"target" requiredSince:"3.3.0" doc:"what the link points to (required since 3.3.0)"`
}

// Disk is a disk to partition.
type Disk struct {
	Device     string      `json:"device" required:"true" doc:"absolute path of the disk device"`
	Partitions []Partition `json:"partitions" doc:"GPT partitions"`
	WipeTable  *bool       `json:"wipeTable" doc:"erase the partition table first"`
}

// Partition is one GPT partition.
type Partition struct {
	GUID               *string `json:"guid" doc:"unique partition GUID"`
	Label              *string `json:"label" doc:"partition name (at most 36 characters, no colon)"`
	Number             int     `json:"number" doc:"partition number; 0 = next free"`
	Resize             *bool   `json:"resize" since:"3.2.0" doc:"allow resizing a matching partition"`
	ShouldExist        *bool   `json:"shouldExist" doc:"false deletes the partition"`
	SizeMiB            *int    `json:"sizeMiB" doc:"size in MiB; 0 = fill the largest free block"`
	StartMiB           *int    `json:"startMiB" doc:"start in MiB; 0 = start of the largest free block"`
	TypeGUID           *string `json:"typeGuid" doc:"partition type GUID"`
	WipePartitionEntry *bool   `json:"wipePartitionEntry" doc:"allow deleting a mismatching partition"`
}

// Raid is a software RAID array.
type Raid struct {
	Devices []string `json:"devices" required:"true" doc:"member devices"`
	Level   *string  `json:"level" required:"true" doc:"RAID level"`
	Name    string   `json:"name" required:"true" doc:"array name (/dev/md/<name>)"`
	Options []string `json:"options" doc:"extra mdadm arguments"`
	Spares  *int     `json:"spares" doc:"number of spare devices"`
}

// Filesystem is a filesystem to create or reuse, and where to mount it.
type Filesystem struct {
	Device         string   `json:"device" required:"true" doc:"absolute path of the device"`
	Format         *string  `json:"format" doc:"ext4, btrfs, xfs, swap, vfat or none"`
	Label          *string  `json:"label" doc:"filesystem label"`
	MountOptions   []string `json:"mountOptions" since:"3.1.0" doc:"options for mounting"`
	Options        []string `json:"options" doc:"extra mkfs arguments"`
	Path           *string  `json:"path" doc:"mount point in the target root"`
	UUID           *string  `json:"uuid" doc:"filesystem UUID"`
	WipeFilesystem *bool    `json:"wipeFilesystem" doc:"erase an existing filesystem"`
}

// Luks is a LUKS encrypted volume.
type Luks struct {
	Cex         Cex      `json:"cex" since:"3.5.0" doc:"IBM Crypto Express secure key"`
	Clevis      Clevis   `json:"clevis" doc:"clevis binding"`
	Device      *string  `json:"device" doc:"absolute path of the backing device"`
	Discard     *bool    `json:"discard" since:"3.4.0" doc:"allow discards"`
	KeyFile     Resource `json:"keyFile" doc:"key file; random when absent"`
	Label       *string  `json:"label" doc:"LUKS label (at most 47 characters)"`
	Name        string   `json:"name" required:"true" doc:"device-mapper name"`
	OpenOptions []string `json:"openOptions" since:"3.4.0" doc:"extra cryptsetup open arguments"`
	Options     []string `json:"options" doc:"extra cryptsetup luksFormat arguments"`
	UUID        *string  `json:"uuid" doc:"LUKS UUID"`
	WipeVolume  *bool    `json:"wipeVolume" doc:"erase an existing volume"`
}

// Cex configures an IBM Crypto Express key.
type Cex struct {
	Enabled *bool `json:"enabled" doc:"use a CEX secure key"`
}

// Clevis binds a LUKS volume to tang servers, a TPM2, or a custom pin.
type Clevis struct {
	Custom    ClevisCustom `json:"custom" doc:"a custom clevis pin and config"`
	Tang      []Tang       `json:"tang" doc:"tang servers"`
	Threshold *int         `json:"threshold" doc:"how many pins must unlock"`
	Tpm2      *bool        `json:"tpm2" doc:"bind to the TPM2"`
}

// ClevisCustom is a custom clevis binding.
type ClevisCustom struct {
	Config       *string `json:"config" doc:"clevis config JSON"`
	NeedsNetwork *bool   `json:"needsNetwork" doc:"the pin needs the network"`
	Pin          *string `json:"pin" doc:"clevis pin name"`
}

// Tang is one tang server.
type Tang struct {
	Advertisement *string `json:"advertisement" since:"3.4.0" doc:"the server's advertisement, for offline provisioning"`
	Thumbprint    *string `json:"thumbprint" doc:"thumbprint of a trusted signing key"`
	URL           string  `json:"url" required:"true" doc:"server URL"`
}

// Systemd lists units.
type Systemd struct {
	Units []Unit `json:"units" doc:"units to write, enable, disable or mask"`
}

// Unit is a systemd unit.
type Unit struct {
	Contents *string  `json:"contents" doc:"unit file contents"`
	Dropins  []Dropin `json:"dropins" doc:"drop-in files"`
	Enabled  *bool    `json:"enabled" doc:"enable (true) or disable (false) the unit"`
	Mask     *bool    `json:"mask" doc:"mask the unit"`
	Name     string   `json:"name" required:"true" doc:"unit name with its extension"`
}

// Dropin is a systemd drop-in file.
type Dropin struct {
	Contents *string `json:"contents" doc:"drop-in contents"`
	Name     string  `json:"name" required:"true" doc:"file name ending in .conf"`
}
