package config

import (
	"strings"
	"testing"
)

// TestValidate_AdminListenOverlap: SD-SERVER-007 refuses an admin address
// that would bind a port the API listener holds, however the two are
// spelt (serve then exited 1 "address already in use"), and passes ones
// that can coexist.
func TestValidate_AdminListenOverlap(t *testing.T) {
	cases := []struct {
		listen, admin string
		refused       bool
	}{
		{"127.0.0.1:8420", "127.0.0.1:8420", true},
		{"localhost:8420", "127.0.0.1:8420", true},
		{"127.0.0.1:8420", "LOCALHOST:8420", true},
		{"[::1]:8420", "localhost:8420", false}, // Go binds one address of a name: localhost's IPv4 one
		{"localhost:8420", "[::1]:8420", false},
		{"0.0.0.0:8420", "127.0.0.1:8420", true},
		{"127.0.0.1:8420", "0.0.0.0:8420", true},
		{":8420", "127.0.0.1:8420", true},
		{"127.0.0.1:8420", ":8420", true},
		{"[::]:8420", "127.0.0.1:8420", true},
		{"10.0.0.5:8420", "[::]:8420", true},
		{"api.internal:8420", "API.internal:8420", true},
		{"[0:0::1]:8420", "[::1]:8420", true},
		{"127.0.0.1:8420", "127.0.0.1:08420", true},
		{"127.0.0.1:8420", "127.0.0.1:8421", false},
		{"0.0.0.0:8420", "127.0.0.1:8421", false},
		{"10.0.0.5:8420", "127.0.0.1:8420", false},
		{"localhost:8420", "10.0.0.5:8420", false},
		{"127.0.0.1:0", "127.0.0.1:0", false}, // each picks a free port
	}
	for _, c := range cases {
		t.Run(c.listen+" "+c.admin, func(t *testing.T) {
			yaml := "server: {listen: \"" + c.listen + "\", admin_listen: \"" + c.admin + "\"}\n"
			cfg, doc, err := Parse([]byte(yaml), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range Validate(cfg, doc, "") {
				if f.RuleID == "SD-SERVER-007" {
					got = append(got, f.Message)
				}
			}
			switch {
			case c.refused && (len(got) != 1 || !strings.Contains(got[0], "server.listen")):
				t.Errorf("SD-SERVER-007 findings = %q; want one naming server.listen", got)
			case !c.refused && len(got) > 0:
				t.Errorf("SD-SERVER-007 findings = %q; want none", got)
			}
		})
	}
}
