// Command genconfig writes the large configs the benchmarks measure:
// N files with data: URLs and a mode in 100 directories, plus L links.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
)

func main() {
	files := flag.Int("files", 20000, "number of files")
	links := flag.Int("links", 0, "number of links")
	version := flag.String("version", "3.5.0", "spec version")
	flag.Parse()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "{\n  \"ignition\": {\"version\": %q},\n  \"storage\": {\n    \"files\": [", *version)
	for i := 0; i < *files; i++ {
		if i > 0 {
			w.WriteByte(',')
		}
		fmt.Fprintf(w, "\n      {\"path\": \"/opt/d%d/file%d\", \"mode\": 420, \"contents\": {\"source\": \"data:,content%%20of%%20file%%20%d\"}}", i%100, i, i)
	}
	w.WriteString("\n    ]")
	if *links > 0 {
		w.WriteString(",\n    \"links\": [")
		for i := 0; i < *links; i++ {
			if i > 0 {
				w.WriteByte(',')
			}
			fmt.Fprintf(w, "\n      {\"path\": \"/opt/l%d/link%d\", \"target\": \"/opt/d%d/file%d\"}", i%50, i, i%100, i)
		}
		w.WriteString("\n    ]")
	}
	w.WriteString("\n  }\n}\n")
}
