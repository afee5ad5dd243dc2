package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Release builds may set these with
// -ldflags "-X main.version=v1.2.3 -X main.buildTime=2026-12-03T12:00:00Z";
// otherwise they come from the build information Go embeds.
var (
	version   string
	buildTime string
)

// build describes this binary.
type build struct {
	Version    string `json:"version"`               // module version: a tag, a pseudo-version or (devel)
	Revision   string `json:"revision,omitempty"`    // VCS commit
	Modified   bool   `json:"modified,omitempty"`    // built from a work tree with uncommitted changes
	CommitTime string `json:"commit_time,omitempty"` // VCS commit time
	BuildTime  string `json:"build_time,omitempty"`  // only when the build set it
	Go         string `json:"go"`
	Platform   string `json:"platform"`
}

func currentBuild() build {
	b := build{Version: "(devel)", BuildTime: buildTime, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" {
			b.Version = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.CommitTime = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		b.Version = version
	}
	return b
}

// String is the one line --version prints.
func (b build) String() string {
	s := "sessiond " + b.Version
	if b.Revision != "" {
		rev := b.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (" + rev
		if b.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s
}

func (b build) write(w io.Writer) {
	or := func(s, none string) string {
		if s == "" {
			return none
		}
		return s
	}
	rev := or(b.Revision, "unknown (built outside a git checkout, or with -buildvcs=false)")
	if b.Modified {
		rev += " (modified work tree)"
	}
	fmt.Fprintf(w, "sessiond %s\nrevision:    %s\ncommit time: %s\nbuild time:  %s\ngo:          %s %s\n",
		b.Version, rev, or(b.CommitTime, "unknown"),
		or(b.BuildTime, "not recorded (set with -ldflags -X main.buildTime=...)"), b.Go, b.Platform)
}

func (a *app) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and build time of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := currentBuild()
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(b)
			}
			b.write(a.stdout)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	return cmd
}
