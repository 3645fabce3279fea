package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/bolt"
)

// TestServeRefusesCorruptStore: serve on a data dir whose store is
// damaged — a truncated index; an index whose pages are overwritten,
// found after an unclean shutdown — exits non-zero at once with
// bolt.ErrCorrupt's message naming the file and the restore, not with a
// panic or a SIGBUS.
func TestServeRefusesCorruptStore(t *testing.T) {
	bin := binary(t)
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"truncated index", func(t *testing.T, dir string) {
			metas := 2 * pageSize(t, filepath.Join(dir, "attestd.db"))
			if err := os.Truncate(filepath.Join(dir, "attestd.db"), metas); err != nil { // the meta pages only
				t.Fatal(err)
			}
		}},
		{"overwritten pages after a crash", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "attestd.db")
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			metas := 2 * pageSize(t, path)
			junk := make([]byte, fi.Size()-metas)
			for i := range junk {
				junk[i] = byte(i*131 + 7)
			}
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteAt(junk, metas)
			if err = errors.Join(err, f.Close()); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+bolt.UncleanSuffix, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := bolt.Open(bolt.Config{Path: filepath.Join(dir, "attestd.db")})
			if err != nil {
				t.Fatal(err)
			}
			subs := make([]store.Submission, 5000)
			for i := range subs {
				subs[i] = store.Submission{Fingerprint: fingerprint.Sum([]byte{byte(i), byte(i >> 8)}), Institution: "dev"}
			}
			if _, _, err := st.Submit(context.Background(), subs, 0); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, dir)

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "serve", "--dev", "--data-dir", dir,
				"--listen", "127.0.0.1:0", "--chain-listen", "127.0.0.1:0").CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || ctx.Err() != nil {
				t.Fatalf("serve on a damaged store: %v (want a non-zero exit)\n%s", err, out)
			}
			text := string(out)
			for _, want := range []string{"store file is corrupt", filepath.Join(dir, "attestd.db"), "restore the data dir from a backup"} {
				if !strings.Contains(text, want) {
					t.Errorf("the output lacks %q:\n%s", want, text)
				}
			}
			for _, bad := range []string{"panic:", "SIGBUS", "goroutine "} {
				if strings.Contains(text, bad) {
					t.Errorf("the output shows %q:\n%s", bad, text)
				}
			}
			t.Logf("exit %d: %s", exit.ExitCode(), strings.TrimSpace(text))
		})
	}
}

// pageSize returns the page size of the bbolt file at path.
func pageSize(t *testing.T, path string) int64 {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return int64(db.Info().PageSize)
}
