package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
)

// setVersion writes v as the store format version of the closed store at
// path.
func setVersion(t *testing.T, path string, v uint64) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyVersion, u64(v))
	}); err != nil {
		t.Fatal(err)
	}
}

// TestOldFormatRefused: a data dir in a format older than the current one
// (only development builds wrote one) is refused with an error saying so,
// and left as it was; a newer format is refused too. The current format
// opens.
func TestOldFormatRefused(t *testing.T) {
	for _, tt := range []struct {
		version uint64
		dev     bool // refused as a development build's
		ok      bool
	}{{1, true, false}, {2, true, false}, {formatVersion - 1, true, false}, {formatVersion, false, true}, {formatVersion + 1, false, false}} {
		path := filepath.Join(t.TempDir(), "attestd.db")
		s := open(t, path, true)
		sealOne(t, s, fingerprint.Sum([]byte("old")))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		setVersion(t, path, tt.version)
		s, err := Open(Config{Path: path, NoSync: true})
		if tt.ok {
			if err != nil {
				t.Errorf("format %d: Open: %v", tt.version, err)
				continue
			}
			if b, err := s.Batch(t.Context(), 1); err != nil || b.Size != 1 {
				t.Errorf("format %d: Batch(1) = %+v, %v", tt.version, b, err)
			}
			s.Close()
			continue
		}
		if err == nil {
			s.Close()
			t.Errorf("format %d: Open succeeded, want a refusal", tt.version)
			continue
		}
		if dev := errors.Is(err, errDevFormat) && strings.Contains(err.Error(), "development build"); dev != tt.dev {
			t.Errorf("format %d: Open error %q; refused as a development build's: %v, want %v", tt.version, err, dev, tt.dev)
		}
		if errors.Is(err, ErrCorrupt) {
			t.Errorf("format %d: Open error %q is ErrCorrupt; the files are sound", tt.version, err)
		}
		// Nothing was written: the version is still the old one.
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		_ = db.View(func(tx *bbolt.Tx) error {
			if got := getU64(tx.Bucket(bucketMeta), keyVersion); got != tt.version {
				t.Errorf("format %d: after the refusal the version is %d", tt.version, got)
			}
			return nil
		})
		db.Close()
	}
}

// TestPageSize: a new main file has mainPageSize pages (the log, the
// OS's). A main file made with 4 KiB pages, by an earlier build, keeps
// them: fingerprints go into it, merge into its index and read back.
func TestPageSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attestd.db")
	s := open(t, path, true)
	if got := s.db.Info().PageSize; got != mainPageSize {
		t.Errorf("a new main file has %d-byte pages, want %d", got, mainPageSize)
	}
	if got := s.log.Info().PageSize; got != os.Getpagesize() {
		t.Errorf("a new log has %d-byte pages, want the OS's %d", got, os.Getpagesize())
	}
	s.Close()

	path = filepath.Join(t.TempDir(), "attestd.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{PageSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = open(t, path, true)
	if got := s.db.Info().PageSize; got != 4<<10 {
		t.Fatalf("a 4 KiB-page main file has %d-byte pages after Open", got)
	}
	fps := make([]fingerprint.Fingerprint, 5000)
	subs := make([]store.Submission, len(fps))
	for i := range fps {
		fps[i] = fingerprint.Sum(fmt.Appendf(nil, "4k/%d", i))
		subs[i] = store.Submission{Fingerprint: fps[i], Institution: "a", ReceivedAt: time.Unix(1, 0)}
	}
	if _, _, err := s.Submit(t.Context(), subs, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.merge(); err != nil {
		t.Fatal(err)
	}
	if n := s.Unindexed(); n != 0 {
		t.Fatalf("%d fingerprints unindexed after the merge", n)
	}
	for _, fp := range fps {
		if e, err := s.Entry(t.Context(), fp); err != nil || e.Fingerprint != fp {
			t.Fatalf("Entry(%x) = %+v, %v", fp[:], e, err)
		}
	}
}
