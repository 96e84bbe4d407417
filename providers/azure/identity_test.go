package azure

import (
	"reflect"
	"testing"
)

func TestParseOvfEnv(t *testing.T) {
	doc := `<?xml version="1.0" encoding="utf-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:wa="http://schemas.microsoft.com/windowsazure">
  <wa:ProvisioningSection>
    <wa:Version>1.0</wa:Version>
    <LinuxProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure">
      <ConfigurationSetType>LinuxProvisioningConfiguration</ConfigurationSetType>
      <HostName>web-7</HostName>
      <UserName>azureuser</UserName>
      <DisableSshPasswordAuthentication>true</DisableSshPasswordAuthentication>
      <SSH><PublicKeys>
        <PublicKey><Fingerprint>EB0C0AB4B2D5FC35F2F0658D19F44C8283E2DD62</Fingerprint><Path>/home/azureuser/.ssh/authorized_keys</Path><Value>ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0 a@b</Value></PublicKey>
        <PublicKey><Fingerprint>ABCD</Fingerprint><Path>/home/azureuser/.ssh/authorized_keys</Path></PublicKey>
      </PublicKeys></SSH>
    </LinuxProvisioningConfigurationSet>
  </wa:ProvisioningSection>
</Environment>`
	got, err := parseOvfEnv([]byte(doc))
	want := ovfEnv{HostName: "web-7", UserName: "azureuser", Keys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0 a@b"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseOvfEnv() = %+v, %v; want %+v", got, err, want)
	}
	if _, err := parseOvfEnv([]byte("not xml <")); err == nil {
		t.Errorf("parseOvfEnv(garbage) = nil error")
	}
}
