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
	Ignition        Ignition        `json:"ignition,omitzero" required:"true" doc:"metadata about the config itself"`
	KernelArguments KernelArguments `json:"kernelArguments,omitzero" since:"3.3.0" doc:"kernel arguments that must or must not be present"`
	Passwd          Passwd          `json:"passwd,omitzero" doc:"users and groups"`
	Storage         Storage         `json:"storage,omitzero" doc:"disks, partitions, RAID, LUKS, filesystems, files, directories and links"`
	Systemd         Systemd         `json:"systemd,omitzero" doc:"systemd units and drop-ins"`
}

// Ignition holds the metadata of a config.
type Ignition struct {
	Config   IgnitionConfig `json:"config,omitzero" doc:"other configs to merge into this one or to replace it"`
	Proxy    Proxy          `json:"proxy,omitzero" since:"3.1.0" doc:"HTTP proxies used for fetching"`
	Security Security       `json:"security,omitzero" doc:"TLS settings for fetching"`
	Timeouts Timeouts       `json:"timeouts,omitzero" doc:"fetch timeouts"`
	Version  string         `json:"version,omitzero" required:"true" doc:"spec version of this config, for example 3.6.0"`
}

// IgnitionConfig names configs to merge or to replace this one with.
type IgnitionConfig struct {
	// In 3.0.0 these are config references, which have only source and verification.
	Merge   []Resource `json:"merge,omitzero" legacy:"source,verification" doc:"configs merged into this one, in order"`
	Replace Resource   `json:"replace,omitzero" legacy:"source,verification" doc:"a config that replaces this one"`
}

// Proxy configures HTTP proxies for fetching remote resources.
type Proxy struct {
	HTTPProxy  *string  `json:"httpProxy,omitzero" doc:"proxy URL for http requests"`
	HTTPSProxy *string  `json:"httpsProxy,omitzero" doc:"proxy URL for https requests"`
	NoProxy    []string `json:"noProxy,omitzero" doc:"hosts, domains and CIDRs that bypass the proxy"`
}

// Security holds TLS settings.
type Security struct {
	TLS TLS `json:"tls,omitzero" doc:"TLS settings"`
}

// TLS lists extra certificate authorities.
type TLS struct {
	CertificateAuthorities []Resource `json:"certificateAuthorities,omitzero" legacy:"source,verification" doc:"PEM bundles added to the system's trusted roots"`
}

// Timeouts for fetching, in seconds.
type Timeouts struct {
	HTTPResponseHeaders *int `json:"httpResponseHeaders,omitzero" doc:"seconds to wait for response headers (default 10, 0 = no limit)"`
	HTTPTotal           *int `json:"httpTotal,omitzero" doc:"seconds allowed for a whole fetch including retries (0 = no limit)"`
}

// Resource is a remote or inline source of bytes.
type Resource struct {
	Compression  *string      `json:"compression,omitzero" enum:",gzip" doc:"compression of the source: empty or gzip"`
	HTTPHeaders  []HTTPHeader `json:"httpHeaders,omitzero" since:"3.1.0" doc:"extra headers for http and https sources"`
	Source       *string      `json:"source,omitzero" doc:"URL: http, https, tftp, s3, arn, gs or data"`
	Verification Verification `json:"verification,omitzero" doc:"hash of the (decompressed) contents"`
}

// HTTPHeader is one extra request header.
type HTTPHeader struct {
	Name  string  `json:"name,omitzero" required:"true" doc:"header name"`
	Value *string `json:"value,omitzero" doc:"header value; absent removes a header inherited by merging"`
}

// Verification holds the expected hash of a resource.
type Verification struct {
	Hash *string `json:"hash,omitzero" doc:"sha512-<hex> or sha256-<hex> (sha256 since 3.1.0)"`
}

// KernelArguments lists arguments that must or must not be on the kernel command line.
type KernelArguments struct {
	ShouldExist    []string `json:"shouldExist,omitzero" doc:"arguments to add when missing"`
	ShouldNotExist []string `json:"shouldNotExist,omitzero" doc:"arguments to remove when present"`
}

// Passwd lists users and groups.
type Passwd struct {
	Groups []PasswdGroup `json:"groups,omitzero" doc:"groups to create, change or delete"`
	Users  []PasswdUser  `json:"users,omitzero" doc:"users to create, change or delete"`
}

// PasswdGroup is one group.
type PasswdGroup struct {
	Gid          *int    `json:"gid,omitzero" doc:"group id"`
	Name         string  `json:"name,omitzero" required:"true" doc:"group name"`
	PasswordHash *string `json:"passwordHash,omitzero" doc:"hashed group password"`
	ShouldExist  *bool   `json:"shouldExist,omitzero" since:"3.2.0" doc:"false deletes the group"`
	System       *bool   `json:"system,omitzero" doc:"create a system group"`
}

// PasswdUser is one user.
type PasswdUser struct {
	Gecos             *string  `json:"gecos,omitzero" doc:"GECOS field"`
	Groups            []string `json:"groups,omitzero" doc:"supplementary groups"`
	HomeDir           *string  `json:"homeDir,omitzero" doc:"home directory"`
	Name              string   `json:"name,omitzero" required:"true" doc:"user name"`
	NoCreateHome      *bool    `json:"noCreateHome,omitzero" doc:"do not create the home directory"`
	NoLogInit         *bool    `json:"noLogInit,omitzero" doc:"do not add the user to lastlog and faillog"`
	NoUserGroup       *bool    `json:"noUserGroup,omitzero" doc:"do not create a group named after the user"`
	PasswordHash      *string  `json:"passwordHash,omitzero" doc:"hashed password"`
	PrimaryGroup      *string  `json:"primaryGroup,omitzero" doc:"primary group"`
	SSHAuthorizedKeys []string `json:"sshAuthorizedKeys,omitzero" doc:"SSH public keys"`
	Shell             *string  `json:"shell,omitzero" doc:"login shell"`
	ShouldExist       *bool    `json:"shouldExist,omitzero" since:"3.2.0" doc:"false deletes the user"`
	System            *bool    `json:"system,omitzero" doc:"create a system user"`
	UID               *int     `json:"uid,omitzero" doc:"user id"`
}

// Storage describes disks and the files written to the target root.
type Storage struct {
	Directories []Directory  `json:"directories,omitzero" doc:"directories to create"`
	Disks       []Disk       `json:"disks,omitzero" doc:"disks to partition"`
	Files       []File       `json:"files,omitzero" doc:"files to write"`
	Filesystems []Filesystem `json:"filesystems,omitzero" doc:"filesystems to create or reuse"`
	Links       []Link       `json:"links,omitzero" doc:"symbolic and hard links"`
	Luks        []Luks       `json:"luks,omitzero" since:"3.2.0" doc:"LUKS volumes"`
	Raid        []Raid       `json:"raid,omitzero" doc:"software RAID arrays"`
}

// Node is what files, directories and links share.
type Node struct {
	Group     NodeGroup `json:"group,omitzero" doc:"owning group, by id or name"`
	Overwrite *bool     `json:"overwrite,omitzero" doc:"replace what is already at the path"`
	Path      string    `json:"path,omitzero" required:"true" doc:"absolute path in the target root"`
	User      NodeUser  `json:"user,omitzero" doc:"owning user, by id or name"`
}

// NodeUser names an owner by id or by name.
type NodeUser struct {
	ID   *int    `json:"id,omitzero" doc:"user id"`
	Name *string `json:"name,omitzero" doc:"user name, resolved in the target root"`
}

// NodeGroup names a group by id or by name.
type NodeGroup struct {
	ID   *int    `json:"id,omitzero" doc:"group id"`
	Name *string `json:"name,omitzero" doc:"group name, resolved in the target root"`
}

// File is a regular file to write.
type File struct {
	Node
	Append   []Resource `json:"append,omitzero" doc:"contents appended in order"`
	Contents Resource   `json:"contents,omitzero" doc:"the file's contents"`
	Mode     *int       `json:"mode,omitzero" doc:"permission bits as a decimal integer (420 = 0644)"`
}

// Directory is a directory to create.
type Directory struct {
	Node
	Mode *int `json:"mode,omitzero" doc:"permission bits as a decimal integer (493 = 0755)"`
}

// Link is a symbolic or hard link.
type Link struct {
	Node
	Hard   *bool   `json:"hard,omitzero" doc:"make a hard link instead of a symbolic one"`
	Target *string `json:"target,omitzero" requiredSince:"3.3.0" doc:"what the link points to (required since 3.3.0)"`
}

// Disk is a disk to partition.
type Disk struct {
	Device     string      `json:"device,omitzero" required:"true" doc:"absolute path of the disk device"`
	Partitions []Partition `json:"partitions,omitzero" doc:"GPT partitions"`
	WipeTable  *bool       `json:"wipeTable,omitzero" doc:"erase the partition table first"`
}

// Partition is one GPT partition.
type Partition struct {
	GUID               *string `json:"guid,omitzero" doc:"unique partition GUID"`
	Label              *string `json:"label,omitzero" doc:"partition name (at most 36 characters, no colon)"`
	Number             int     `json:"number,omitzero" doc:"partition number; 0 = next free"`
	Resize             *bool   `json:"resize,omitzero" since:"3.2.0" doc:"allow resizing a matching partition"`
	ShouldExist        *bool   `json:"shouldExist,omitzero" doc:"false deletes the partition"`
	SizeMiB            *int    `json:"sizeMiB,omitzero" doc:"size in MiB; 0 = fill the largest free block"`
	StartMiB           *int    `json:"startMiB,omitzero" doc:"start in MiB; 0 = start of the largest free block"`
	TypeGUID           *string `json:"typeGuid,omitzero" doc:"partition type GUID"`
	WipePartitionEntry *bool   `json:"wipePartitionEntry,omitzero" doc:"allow deleting a mismatching partition"`
}

// Raid is a software RAID array.
type Raid struct {
	Devices []string `json:"devices,omitzero" required:"true" doc:"member devices"`
	Level   *string  `json:"level,omitzero" required:"true" doc:"RAID level"`
	Name    string   `json:"name,omitzero" required:"true" doc:"array name (/dev/md/<name>)"`
	Options []string `json:"options,omitzero" doc:"extra mdadm arguments"`
	Spares  *int     `json:"spares,omitzero" doc:"number of spare devices"`
}

// Filesystem is a filesystem to create or reuse, and where to mount it.
type Filesystem struct {
	Device         string   `json:"device,omitzero" required:"true" doc:"absolute path of the device"`
	Format         *string  `json:"format,omitzero" doc:"ext4, btrfs, xfs, swap, vfat or none"`
	Label          *string  `json:"label,omitzero" doc:"filesystem label"`
	MountOptions   []string `json:"mountOptions,omitzero" since:"3.1.0" doc:"options for mounting"`
	Options        []string `json:"options,omitzero" doc:"extra mkfs arguments"`
	Path           *string  `json:"path,omitzero" doc:"mount point in the target root"`
	UUID           *string  `json:"uuid,omitzero" doc:"filesystem UUID"`
	WipeFilesystem *bool    `json:"wipeFilesystem,omitzero" doc:"erase an existing filesystem"`
}

// Luks is a LUKS encrypted volume.
type Luks struct {
	Cex         Cex      `json:"cex,omitzero" since:"3.5.0" doc:"IBM Crypto Express secure key"`
	Clevis      Clevis   `json:"clevis,omitzero" doc:"clevis binding"`
	Device      *string  `json:"device,omitzero" doc:"absolute path of the backing device"`
	Discard     *bool    `json:"discard,omitzero" since:"3.4.0" doc:"allow discards"`
	KeyFile     Resource `json:"keyFile,omitzero" doc:"key file; random when absent"`
	Label       *string  `json:"label,omitzero" doc:"LUKS label (at most 47 characters)"`
	Name        string   `json:"name,omitzero" required:"true" doc:"device-mapper name"`
	OpenOptions []string `json:"openOptions,omitzero" since:"3.4.0" doc:"extra cryptsetup open arguments"`
	Options     []string `json:"options,omitzero" doc:"extra cryptsetup luksFormat arguments"`
	UUID        *string  `json:"uuid,omitzero" doc:"LUKS UUID"`
	WipeVolume  *bool    `json:"wipeVolume,omitzero" doc:"erase an existing volume"`
}

// Cex configures an IBM Crypto Express key.
type Cex struct {
	Enabled *bool `json:"enabled,omitzero" doc:"use a CEX secure key"`
}

// Clevis binds a LUKS volume to tang servers, a TPM2, or a custom pin.
type Clevis struct {
	Custom    ClevisCustom `json:"custom,omitzero" doc:"a custom clevis pin and config"`
	Tang      []Tang       `json:"tang,omitzero" doc:"tang servers"`
	Threshold *int         `json:"threshold,omitzero" doc:"how many pins must unlock"`
	Tpm2      *bool        `json:"tpm2,omitzero" doc:"bind to the TPM2"`
}

// ClevisCustom is a custom clevis binding.
type ClevisCustom struct {
	Config       *string `json:"config,omitzero" doc:"clevis config JSON"`
	NeedsNetwork *bool   `json:"needsNetwork,omitzero" doc:"the pin needs the network"`
	Pin          *string `json:"pin,omitzero" doc:"clevis pin name"`
}

// Tang is one tang server.
type Tang struct {
	Advertisement *string `json:"advertisement,omitzero" since:"3.4.0" doc:"the server's advertisement, for offline provisioning"`
	Thumbprint    *string `json:"thumbprint,omitzero" doc:"thumbprint of a trusted signing key"`
	URL           string  `json:"url,omitzero" required:"true" doc:"server URL"`
}

// Systemd lists units.
type Systemd struct {
	Units []Unit `json:"units,omitzero" doc:"units to write, enable, disable or mask"`
}

// Unit is a systemd unit.
type Unit struct {
	Contents *string  `json:"contents,omitzero" doc:"unit file contents"`
	Dropins  []Dropin `json:"dropins,omitzero" doc:"drop-in files"`
	Enabled  *bool    `json:"enabled,omitzero" doc:"enable (true) or disable (false) the unit"`
	Mask     *bool    `json:"mask,omitzero" doc:"mask the unit"`
	Name     string   `json:"name,omitzero" required:"true" doc:"unit name with its extension"`
}

// Dropin is a systemd drop-in file.
type Dropin struct {
	Contents *string `json:"contents,omitzero" doc:"drop-in contents"`
	Name     string  `json:"name,omitzero" required:"true" doc:"file name ending in .conf"`
}
