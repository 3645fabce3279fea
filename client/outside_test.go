package client_test

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/attestd/attestd/client"
)

// TestREADMEProgram builds the program in README.md's "From your own Go
// system" as a hospital would: in a module of its own that requires
// github.com/attestd/attestd (replaced by this checkout), so it can import
// only what an outside module can. Then it runs it against the attestd of
// TestMain and checks the .attest it wrote holds a receipt and a proof.
// The module cache must hold this module's dependencies (any build of it
// fills it); nothing is downloaded.
func TestREADMEProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program; skipped with -short")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## From your own Go system\n")
	if !ok {
		t.Fatal(`README.md has no "## From your own Go system" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindStringSubmatch(section)
	if m == nil {
		t.Fatal("README.md's \"From your own Go system\" has no ```go block")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}

	mod := t.TempDir()
	for name, content := range map[string]string{
		"main.go": m[1],
		"go.mod": "module example.org/hospital\n\ngo " + string(goVersion[1]) + "\n\n" +
			"require github.com/attestd/attestd v0.0.0-00010101000000-000000000000\n\n" +
			"replace github.com/attestd/attestd => " + root + "\n",
		"go.sum": string(sum),
	} {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "hospital")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	build.Dir = mod
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building README.md's program as a module of its own: %v\n%s", err, out)
	}

	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "report.pdf"), []byte("%PDF-1.7 discharge summary\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := exec.CommandContext(t.Context(), bin)
	run.Dir = work // the environment is TestMain's: ATTESTD_SERVER, ATTESTD_API_KEY
	out, err := run.CombinedOutput()
	if err != nil || !regexp.MustCompile(`^report\.pdf attested in batch [1-9][0-9]*\n$`).Match(out) {
		t.Fatalf("README.md's program: %v\n%s", err, out)
	}
	f, err := client.ReadAttest(filepath.Join(work, "report.pdf.attest"))
	if err != nil || f.Receipt == nil || f.Proof == nil || f.Blinding == nil {
		t.Fatalf("the .attest it wrote: %v, %+v", err, f)
	}
}

// TestExamplesImportNoInternalPackage: the examples are the package's
// guide, so they use only what a hospital's own module can import (an
// internal package would compile here, in this module, and nowhere else).
func TestExamplesImportNoInternalPackage(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "example_test.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range f.Imports {
		if p := strings.Trim(imp.Path.Value, `"`); strings.Contains(p+"/", "/internal/") {
			t.Errorf("example_test.go imports %s, which a program outside this module cannot", p)
		}
	}
}
