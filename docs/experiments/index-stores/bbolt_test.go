package indexstores

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// TestBboltBuckets: bbolt buckets as sorted runs. Four rounds of 1M
// sorted keys, each appended into a fresh bucket (FillPercent 1.0, a
// transaction per 128k), then the four merged into one.
func TestBboltBuckets(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "x.db"), 0o600, &bbolt.Options{PageSize: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 58)
	names := []string{"a", "b", "c", "d"}
	for _, name := range names {
		ks := sortedKeys(1 << 20)
		start := time.Now()
		for i := 0; i < len(ks); i += 1 << 17 {
			err := db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte(name))
				if err != nil {
					return err
				}
				b.FillPercent = 1.0
				for _, k := range ks[i:min(i+1<<17, len(ks))] {
					if err := b.Put(k, val); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("bucket %s: %.2f µs a key", name, float64(time.Since(start).Microseconds())/float64(len(ks)))
	}
	start, n := time.Now(), 0
	err = db.Update(func(tx *bbolt.Tx) error {
		out, err := tx.CreateBucket([]byte("merged"))
		if err != nil {
			return err
		}
		out.FillPercent = 1.0
		var cs []*bbolt.Cursor
		var cur [][2][]byte
		for _, name := range names {
			c := tx.Bucket([]byte(name)).Cursor()
			k, v := c.First()
			cs, cur = append(cs, c), append(cur, [2][]byte{k, v})
		}
		for {
			least := -1
			for i := range cs {
				if cur[i][0] != nil && (least < 0 || bytes.Compare(cur[i][0], cur[least][0]) < 0) {
					least = i
				}
			}
			if least < 0 {
				return nil
			}
			if err := out.Put(cur[least][0], cur[least][1]); err != nil {
				return err
			}
			n++
			k, v := cs[least].Next()
			cur[least] = [2][]byte{k, v}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("merging the four: %.2f µs a key", float64(time.Since(start).Microseconds())/float64(n))
}
