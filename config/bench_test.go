package config

import (
	"fmt"
	"strings"
	"testing"
)

// genConfig writes a 3.5.0 config with n files carrying data: URLs and a
// mode, in 100 directories, plus links links (the shape the issue measures).
func genConfig(n, links int) []byte {
	var b strings.Builder
	b.WriteString(`{"ignition":{"version":"3.5.0"},"storage":{"files":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "\n{\"path\":\"/opt/d%d/file%d\",\"mode\":420,\"contents\":{\"source\":\"data:,content%%20of%%20file%%20%d\"}}", i%100, i, i)
	}
	b.WriteString("]")
	if links > 0 {
		b.WriteString(`,"links":[`)
		for i := 0; i < links; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "\n{\"path\":\"/opt/l%d/link%d\",\"target\":\"/opt/d%d/file%d\"}", i%50, i, i%100, i)
		}
		b.WriteString("]")
	}
	b.WriteString("}}\n")
	return []byte(b.String())
}

func benchParse(b *testing.B, n, links int) {
	raw := genConfig(n, links)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Parse(raw)
		if err != nil || len(res.Config.Storage.Files) != n {
			b.Fatalf("Parse() = %v, %d files", err, len(res.Config.Storage.Files))
		}
	}
}

func BenchmarkParse20kFiles(b *testing.B)         { benchParse(b, 20000, 0) }
func BenchmarkParse100kFiles(b *testing.B)        { benchParse(b, 100000, 0) }
func BenchmarkParse20kFiles5kLinks(b *testing.B)  { benchParse(b, 20000, 5000) }
func BenchmarkParse20kFiles20kLinks(b *testing.B) { benchParse(b, 20000, 20000) }

// genBroken writes a 3.5.0 config with n files that are each wrong twice: a
// mode of the wrong type (a type error) and a relative path (a validation
// error that the type error does not cover).
func genBroken(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"ignition":{"version":"3.5.0"},"storage":{"files":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "\n{\"path\":\"opt/d%d/file%d\",\"mode\":\"x\",\"contents\":{\"source\":\"data:,c%d\"}}", i%100, i, i)
	}
	b.WriteString("]}}\n")
	return []byte(b.String())
}

func benchBroken(b *testing.B, n int) {
	raw := genBroken(n)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Parse(raw)
		if err == nil || len(res.Report.Entries) != 2*n {
			b.Fatalf("Parse() = %v, %d entries; want ErrInvalid, %d", err, len(res.Report.Entries), 2*n)
		}
	}
}

func BenchmarkValidateBroken1k(b *testing.B)  { benchBroken(b, 1000) }
func BenchmarkValidateBroken16k(b *testing.B) { benchBroken(b, 16000) }
