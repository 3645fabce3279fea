package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestBatch: files written in a batch have their content and mode (an
// existing file replaced), no temporary file is left, and Sync starts a
// new batch.
func TestBatch(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f0"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b Batch
	for i := range 4 {
		d := dir
		if i%2 == 1 {
			d = sub
		}
		if err := b.Write(filepath.Join(d, fmt.Sprintf("f%d", i)), []byte(fmt.Sprintf("content %d", i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.done) != 4 || len(b.dirs) != 2 {
		t.Fatalf("batch holds %d files in %d dirs", len(b.done), len(b.dirs))
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if len(b.done) != 0 || len(b.dirs) != 0 {
		t.Fatal("Sync did not start a new batch")
	}
	for i := range 4 {
		d := dir
		if i%2 == 1 {
			d = sub
		}
		p := filepath.Join(d, fmt.Sprintf("f%d", i))
		data, err := os.ReadFile(p)
		if err != nil || string(data) != fmt.Sprintf("content %d", i) {
			t.Fatalf("%s: %q, %v", p, data, err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v", p, fi.Mode().Perm())
		}
	}
	for _, d := range []string{dir, sub} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if filepath.Ext(e.Name()) != "" || len(e.Name()) > 3 && e.Name() != "sub" {
				t.Fatalf("left behind in %s: %s", d, e.Name())
			}
		}
	}
}
