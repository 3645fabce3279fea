package bolt

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/fingerprint"
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
