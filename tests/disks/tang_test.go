package disks

import (
	"strconv"
	"strings"
)

// tangAdv is an advertisement tangd served (keys made by tangd-keygen;
// only their public halves are in it): an ES512 signing key, thumbprint
// (S256) tangSigner, and an exchange key, thumbprint tangExchange.
const (
	tangAdv      = `{"payload": "eyJrZXlzIjogW3siYWxnIjogIkVDTVIiLCAiY3J2IjogIlAtNTIxIiwgImtleV9vcHMiOiBbImRlcml2ZUtleSJdLCAia3R5IjogIkVDIiwgIngiOiAiQUZ5ak13MW1JdFM3UHBIWEtjTjNmSEFpa3pGeXVuSlg2ODY5TEZQblRJald4NjZ2LU9KV25pUDdkSFFnMXlkSWVvc3R3Sk1xbzZrU1RnMHNOeC1ucXI2bSIsICJ5IjogIkFlLUNicUgyX19WTWt0elN2cnpRbncxVnZlekN4YmwyVjVKQXFPSVJudmZ5cFVkMExQQ2ZHN2luZkExR1lBd2VMT2VPNGp6QVl4Vi02dGpDclFTX3NLWHoifSwgeyJhbGciOiAiRVM1MTIiLCAiY3J2IjogIlAtNTIxIiwgImtleV9vcHMiOiBbInZlcmlmeSJdLCAia3R5IjogIkVDIiwgIngiOiAiQUVFSjc5UXU1X25KQWxkRW5VMmtLd0pueGhUUXhBQk9NTXNVQ1VPYnpna3NZajNlN25Lc0JWeWFrWHNMc256dXd1bzUyY0dENmp2Vk1ZcTZtTVc2NmY4ZCIsICJ5IjogIkFhRVFLRmc3c050TGJONmViTjRsT3N0em02RTNuOHNKcENuc0pvUmZOSndYWkFkQ1pmaGJfLVNrUy0tUTN6MHUtNnlhQXZIX1lBVjJtT0pnXzNSa2RpWHUifV19", "protected": "eyJhbGciOiJFUzUxMiIsImN0eSI6Imp3ay1zZXQranNvbiJ9", "signature": "ADN3X6oLiMCEUUN_0rrjnKv_D1DUyhAiQoRoD-JF0sXeVAGggD-e02JS6W40bvSCP-cOb-31AbrUsqtd0MlFbfElAPb1Iy18zPyyfDG-b2LSg2JQ4JcxHLQ9qSQPN7EPo0t__xvX_9S0P8CQspxuBAO2VDW0JC8eWD6IofGwecCyGVAy"}`
	tangSigner   = "kEBp1jMUzGNKLXR6wxXfsK6hJee52xgzzcMCm5LXMnE"
	tangExchange = "_l-PgrpP8ahbiqyD1lalZQabtd9hPu7TuYG6D6PVj6E"
)

// tangLuks is a config creating partition 2 on $disk0 and a LUKS volume
// on it bound to a tang server trusted by thp, with adv in the config.
func tangLuks(thp, adv string) string {
	return cfg(`{"disks": [{"device": "$disk0", "partitions": [{"number": 2, "label": "secret", "sizeMiB": 20}]}],
		"luks": [{"name": "secret", "device": "$disk0p2",
			"clevis": {"tang": [{"url": "http://tang.invalid", "thumbprint": ` + strconv.Quote(thp) + `, "advertisement": ` + strconv.Quote(adv) + `}]}}]}`)
}

// tangScenarios: a tang binding whose advertisement does not hold up is
// refused in the plan, before the partition table is written.
var tangScenarios = []scenario{
	{
		name:   "dry-run/luks-tang-advertisement-checked",
		before: []disk{dataDisk()},
		config: tangLuks(tangSigner, tangAdv),
		dryRun: []string{`LUKS secret on \$disk0p2.*create with a random key, bound with clevis sss`,
			`tang http://tang.invalid: advertisement \(from the config\) signed by the key with thumbprint ` + tangSigner + ` \(SHA-256\)`},
	},
	{
		name:   "refuse/luks-tang-thumbprint-of-no-key-in-the-advertisement",
		before: []disk{dataDisk()},
		config: tangLuks("Ku8zWWnCpm0bq3MbEB1Me2Wq9PIGY9Ak1dHEgPZVgJ0", tangAdv),
		fail:   "disks",
		why:    `LUKS secret: tang http://tang.invalid: no signing key in the advertisement has thumbprint Ku8zWWnCpm0bq3MbEB1Me2Wq9PIGY9Ak1dHEgPZVgJ0`,
	},
	{
		// the exchange key is in the advertisement, but it signs nothing
		name:   "refuse/luks-tang-thumbprint-of-the-exchange-key",
		before: []disk{dataDisk()},
		config: tangLuks(tangExchange, tangAdv),
		fail:   "disks",
		why:    `no signing key in the advertisement has thumbprint ` + tangExchange,
	},
	{
		// the payload changed after signing: the signature does not hold
		name:   "refuse/luks-tang-advertisement-tampered",
		before: []disk{dataDisk()},
		config: tangLuks(tangSigner, strings.Replace(tangAdv, `"signature": "ADN3`, `"signature": "ADN4`, 1)),
		fail:   "disks",
		why:    `not signed by its key with thumbprint ` + tangSigner,
	},
}

func init() { scenarios = append(scenarios, tangScenarios...) }
