package server_test

import (
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/server"
)

func TestParseKeys(t *testing.T) {
	const k1, k2, k3 = "0123456789abcdef", "fedcba9876543210-long", "sixteen-chars-ok"
	cases := []struct {
		name string
		file string
		want map[string]string // key -> institution
		err  string            // substring of the error; "" = no error
	}{
		{"valid", "lab-a " + k1 + "\nlab-b " + k2 + "\n", map[string]string{k1: "lab-a", k2: "lab-b"}, ""},
		{"no trailing newline", "lab-a " + k1, map[string]string{k1: "lab-a"}, ""},
		{"comments, blank lines, CRLF, indentation, tabs",
			"# API keys\r\n\r\n   # indented comment\n\tlab-a\t" + k1 + "  \r\n\n  lab-b   " + k2 + "\n#\n",
			map[string]string{k1: "lab-a", k2: "lab-b"}, ""},
		{"one institution, two keys", "lab-a " + k1 + "\nlab-a " + k3 + "\n", map[string]string{k1: "lab-a", k3: "lab-a"}, ""},
		{"key of exactly 16", "lab-a " + k3, map[string]string{k3: "lab-a"}, ""},
		{"duplicate key", "lab-a " + k1 + "\n# x\nlab-b " + k1 + "\n", nil, "line 3: key listed twice"},
		{"duplicate key, same institution", "lab-a " + k1 + "\nlab-a " + k1 + "\n", nil, "line 2: key listed twice"},
		{"short key", "lab-a " + k1 + "\nlab-b 0123456789abcde\n", nil, "line 2: the key of lab-b is shorter than 16"},
		{"institution only", "lab-a " + k1 + "\n\nlab-b\n", nil, "line 3"},
		{"three fields", "lab-a " + k1 + " extra\n", nil, "line 1"},
		{"institution too long", strings.Repeat("x", 129) + " " + k1, nil, "line 1: invalid institution"},
		{"empty file", "", nil, "no API keys"},
		{"only comments", "# nothing\n\n   \n# here\n", nil, "no API keys"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ks, err := server.ParseKeys([]byte(c.file))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want one containing %q", err, c.err)
				}
				// Errors never echo a key.
				for _, k := range []string{k1, k2, k3, "0123456789abcde"} {
					if strings.Contains(err.Error(), k) {
						t.Fatalf("error %q reveals a key", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ks) != len(c.want) {
				t.Fatalf("%d keys, want %d", len(ks), len(c.want))
			}
			for key, inst := range c.want {
				if got, ok := ks.Institution(key); !ok || got != inst {
					t.Fatalf("Institution(%q) = %q %v, want %q", key, got, ok, inst)
				}
			}
			for _, bad := range []string{"", "lab-a", k1 + " ", " " + k1, k1[:15], strings.ToUpper(k1)} {
				if inst, ok := ks.Institution(bad); ok {
					t.Fatalf("Institution(%q) = %q, want unknown", bad, inst)
				}
			}
		})
	}
}
