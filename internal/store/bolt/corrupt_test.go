package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// writeStore writes a store with sealed, merged and pending fingerprints
// under dir, closes it cleanly and returns its path.
func writeStore(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "attestd.db")
	s, err := Open(Config{Path: path, MergeAt: 1000, segmentShift: 8})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, _, err := s.Submit(ctx, subsOf(string(rune('a'+i)), 1000), 0); err != nil {
			t.Fatal(err)
		}
		if i < 4 {
			if _, err := sealAll(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.merge(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Submit(ctx, subsOf("unmerged", 300), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + UncleanSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the unclean marker after a clean Close: %v", err)
	}
	return path
}

// pagesOf returns the IDs of the pages of file of the given type ("leaf",
// "branch") that are in use, and the file's page size.
func pagesOf(t *testing.T, file, typ string) (ids []int, pageSize int64) {
	t.Helper()
	db, err := bbolt.Open(file, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pageSize = int64(db.Info().PageSize)
	err = db.View(func(tx *bbolt.Tx) error {
		for id := 2; int64(id)*pageSize < tx.Size(); id++ {
			p, err := tx.Page(id)
			if err != nil {
				return err
			}
			if p != nil && p.Type == typ {
				ids = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 {
		t.Fatalf("%s has no %s pages", file, typ)
	}
	return ids, pageSize
}

func overwrite(t *testing.T, file string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func garbage(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*131 + 7)
	}
	return b
}

// TestOpenCorrupt: damaged files — truncated, both meta pages broken, a
// page in use overwritten (found by the full check that runs after an
// unclean shutdown) — make Open return ErrCorrupt naming the file and
// saying to restore from a backup, without a panic or a fault killing the
// process; the marker stays, so the next Open checks again.
func TestOpenCorrupt(t *testing.T) {
	cases := []struct {
		name    string
		file    string // suffix of the damaged file: "" (index) or LogSuffix
		unclean bool   // leave the unclean-shutdown marker (a crash)
		damage  func(t *testing.T, file string)
	}{
		{"index truncated", "", false, truncateHalf},
		{"log truncated", LogSuffix, false, truncateHalf},
		{"index truncated to nothing", "", false, func(t *testing.T, f string) {
			if err := os.Truncate(f, 0); err != nil { // bbolt would take it for a new file
				t.Fatal(err)
			}
		}},
		{"index missing", "", false, func(t *testing.T, f string) {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}},
		{"index meta pages", "", false, func(t *testing.T, f string) {
			overwrite(t, f, 0, garbage(2*pageSizeOf(t, f)))
		}},
		{"index leaf page", "", true, func(t *testing.T, f string) {
			ids, ps := pagesOf(t, f, "leaf")
			overwrite(t, f, int64(ids[len(ids)/2])*ps, garbage(int(ps)))
		}},
		{"index branch page count", "", true, func(t *testing.T, f string) {
			ids, ps := pagesOf(t, f, "branch")
			overwrite(t, f, int64(ids[0])*ps+10, []byte{0xff, 0xff}) // the page's element count
		}},
		{"index leaf page header", "", true, func(t *testing.T, f string) {
			ids, ps := pagesOf(t, f, "leaf")
			overwrite(t, f, int64(ids[0])*ps+16, garbage(64)) // element offsets far outside the page
		}},
		{"index branch points beyond the file", "", true, func(t *testing.T, f string) {
			ids, ps := pagesOf(t, f, "branch")
			b := make([]byte, 8)
			binary.NativeEndian.PutUint64(b, uint64(2<<30/ps)) // 2 GB in: inside the mmap, past the file's end (SIGBUS)
			overwrite(t, f, int64(ids[0])*ps+16+8, b)          // the first element's child page
		}},
		{"log leaf page, clean shutdown", LogSuffix, false, func(t *testing.T, f string) {
			ids, ps := pagesOf(t, f, "leaf")
			overwrite(t, f, int64(ids[len(ids)/2])*ps, garbage(int(ps)))
		}},
		{"log leaf page", LogSuffix, true, func(t *testing.T, f string) {
			ids, ps := pagesOf(t, f, "leaf")
			overwrite(t, f, int64(ids[len(ids)/2])*ps, garbage(int(ps)))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeStore(t, t.TempDir())
			file := path + tc.file
			tc.damage(t, file)
			if tc.unclean {
				if err := os.WriteFile(path+UncleanSuffix, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(Config{Path: path})
			if err == nil {
				s.Close()
				t.Fatal("Open of a damaged store succeeded")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "restore the data dir from a backup") {
				t.Fatalf("Open: %v; want ErrCorrupt naming %s and the restore", err, file)
			}
			t.Log(err)
			if _, err := Open(Config{Path: path}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("the second Open: %v, want ErrCorrupt again", err)
			}
		})
	}
}

// TestUncleanMarker: Open leaves the marker while the store is open, a
// clean Close removes it, and a store whose marker remains (a crash) is
// checked in full and opens when it is sound.
func TestUncleanMarker(t *testing.T) {
	path := writeStore(t, t.TempDir())
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + UncleanSuffix); err != nil {
		t.Fatalf("no marker while open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+UncleanSuffix, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Config{Path: path})
	if err != nil {
		t.Fatalf("Open after an unclean shutdown of a sound store: %v", err)
	}
	if n, _, err := s.PendingStats(context.Background()); err != nil || n != 1300 {
		t.Fatalf("PendingStats = %d, %v; want 1300", n, err)
	}
	s.Close()
}

// truncateHalf truncates file to half the pages its meta page names (bbolt
// grows files ahead of their use, so the file may be longer).
func truncateHalf(t *testing.T, file string) {
	t.Helper()
	db, err := bbolt.Open(file, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	err = db.View(func(tx *bbolt.Tx) error { size = tx.Size(); return nil })
	ps := int64(db.Info().PageSize)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, size/2/ps*ps); err != nil {
		t.Fatal(err)
	}
}

// pageSizeOf returns the page size of the bbolt file at path.
func pageSizeOf(t *testing.T, path string) int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return db.Info().PageSize
}
