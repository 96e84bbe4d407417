package resource

import "github.com/aws/aws-sdk-go-v2/aws"

// What a platform tells the fetcher about fetching from its cloud's
// storage. Providers set these in Init, possibly while other fetches run;
// the fetcher keeps them under its lock and With copies them.

// S3Options say how s3:// and S3 ARN sources are fetched.
type S3Options struct {
	// Region is the instance's region (from IMDS): the first region asked
	// where a bucket lives, and the partition of s3:// URLs.
	Region string
	// InstanceRole signs requests with the instance role's credentials,
	// from IMDS (anonymously when the instance has no role).
	InstanceRole bool
	// Credentials, when set, sign requests instead of the instance role.
	Credentials aws.CredentialsProvider
}

// GCSOptions say how gs:// sources are fetched.
type GCSOptions struct {
	// ServiceAccount makes requests carry the VM's service-account token
	// from the metadata server (anonymous when the VM has none).
	ServiceAccount bool
}

// AzureBlobOptions say how https sources on Azure Blob hosts are fetched.
type AzureBlobOptions struct {
	// ManagedIdentity makes requests carry a token of the VM's managed
	// identity (anonymous when there is none or it is refused).
	ManagedIdentity bool
	// Cloud is the cloud IMDS reports (azEnvironment), logged next to the
	// cloud a blob host belongs to.
	Cloud string
}

// SetS3 sets how S3 is fetched.
func (f *Fetcher) SetS3(o S3Options) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.s3 = o
}

// SetGCS sets how Google Cloud Storage is fetched.
func (f *Fetcher) SetGCS(o GCSOptions) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gcs = o
}

// SetAzureBlob sets how Azure Blob storage is fetched.
func (f *Fetcher) SetAzureBlob(o AzureBlobOptions) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.azblob = o
}

func (f *Fetcher) s3Options() S3Options {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s3
}

func (f *Fetcher) gcsOptions() GCSOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gcs
}

func (f *Fetcher) azureBlobOptions() AzureBlobOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.azblob
}
