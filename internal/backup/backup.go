// Package backup copies the embedded store on a schedule into a directory
// of its own, keeping the newest few copies. Each copy is a directory
// named attestd-backup-<UTC time> holding the store's two files as of one
// instant (bolt.Store.Backup); restoring is putting both into the data
// dir in place of the store's files, with attestd stopped.
package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/attestd/attestd/internal/metrics"
)

// Defaults of Config.Every and Config.Keep.
const (
	DefaultEvery = time.Hour
	DefaultKeep  = 24
)

// Prefix starts the name of every copy; the rest is its UTC time to the
// millisecond (20261121T180000.000Z), so names sort in time order.
const Prefix = "attestd-backup-"

const nameTime = "20060102T150405.000Z"

// Store is what the scheduler needs of the store: a consistent copy into
// a new directory.
type Store interface {
	Backup(ctx context.Context, dir string) error
}

// Config configures Run.
type Config struct {
	Dir   string        // where the copies go; created if missing. Not the data dir's volume, ideally
	Every time.Duration // 0 = DefaultEvery
	Keep  int           // copies kept, the newest; 0 = DefaultKeep
}

// Check validates cfg and prepares its directory at start: it refuses a
// negative interval or count, creates the directory, and fails unless a
// file can be written there, so a wrong setting stops the service at once
// instead of failing an interval later. It warns when the directory is on
// the data dir's file system, where a copy does not survive the loss of
// the volume.
func Check(cfg Config, dataDir string, log *slog.Logger) error {
	if cfg.Every < 0 || cfg.Keep < 0 {
		return fmt.Errorf("backup: the interval (%s) and the number of copies kept (%d) must not be negative", cfg.Every, cfg.Keep)
	}
	dir := cfg.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backup: the directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".attestd-write-check-*")
	if err != nil {
		return fmt.Errorf("backup: cannot write in the directory: %w", err)
	}
	f.Close()
	os.Remove(f.Name())
	if sameDevice(dir, dataDir) {
		log.Warn("the backup dir is on the same file system as the data dir: the copies do not survive the loss of that volume", "backup_dir", dir, "data_dir", dataDir)
	}
	return nil
}

// Run takes a copy every cfg.Every until ctx is done. The first is due
// cfg.Every after the newest copy already in cfg.Dir, at once if there is
// none, so a restart neither skips a copy nor takes one too many. A failed
// copy is logged, counted and tried again at the next interval; it never
// stops the service.
func Run(ctx context.Context, cfg Config, st Store, m *metrics.Backups, log *slog.Logger) {
	cfg.Every = cmpOr(cfg.Every, DefaultEvery)
	cfg.Keep = cmpOr(cfg.Keep, DefaultKeep)
	t := time.NewTimer(firstWait(cfg.Dir, cfg.Every, time.Now()))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(cfg.Every)
		if _, err := Take(ctx, cfg, st, m, log); err != nil && ctx.Err() == nil {
			log.Error("backup failed; trying again at the next interval", "dir", cfg.Dir, "err", err)
		}
	}
}

// firstWait is how long after now the first copy is due: every after the
// newest copy in dir, at once if there is none or it is older than that.
func firstWait(dir string, every time.Duration, now time.Time) time.Duration {
	last, ok := newest(dir)
	if !ok {
		return 0
	}
	return max(last.Add(every).Sub(now), 0)
}

// newest returns the time of the newest copy in dir, if any.
func newest(dir string) (time.Time, bool) {
	names, _ := copies(dir) // a missing dir has none
	if len(names) == 0 {
		return time.Time{}, false
	}
	t, _ := time.Parse(nameTime, strings.TrimPrefix(names[len(names)-1], Prefix))
	return t, true
}

// Take writes one copy now, then removes the copies beyond cfg.Keep (and
// what interrupted copies left), and returns the new copy's path.
func Take(ctx context.Context, cfg Config, st Store, m *metrics.Backups, log *slog.Logger) (string, error) {
	start := time.Now()
	path, err := take(ctx, cfg, st, start)
	if err != nil {
		if ctx.Err() == nil {
			m.Failures.Inc()
		}
		return "", err
	}
	size, err := dirSize(path)
	if err != nil {
		m.Failures.Inc()
		return "", err
	}
	took := time.Since(start)
	m.LastSuccess.Set(float64(start.Unix()))
	m.Duration.Set(took.Seconds())
	m.Bytes.Set(float64(size))
	log.Info("backup written", "path", path, "bytes", size, "took", took)
	if err := prune(cfg.Dir, cmpOr(cfg.Keep, DefaultKeep)); err != nil {
		log.Warn("removing old backups", "dir", cfg.Dir, "err", err)
	}
	return path, nil
}

func take(ctx context.Context, cfg Config, st Store, at time.Time) (string, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(cfg.Dir, Prefix+at.UTC().Format(nameTime))
	return path, st.Backup(ctx, path) // refuses an existing path
}

// copies returns the names of the copies in dir, oldest first, and of
// the .tmp directories interrupted copies left.
func copies(dir string) (names, tmps []string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, Prefix) {
			continue
		}
		if strings.HasSuffix(name, ".tmp") {
			tmps = append(tmps, name)
		} else if _, err := time.Parse(nameTime, strings.TrimPrefix(name, Prefix)); err == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, tmps
}

// prune removes all but the newest keep copies in dir, and the .tmp
// directories interrupted copies left; it touches nothing else there.
func prune(dir string, keep int) error {
	names, tmps := copies(dir)
	var errs []error
	for _, name := range append(tmps, names[:max(len(names)-keep, 0)]...) {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, name)))
	}
	return errors.Join(errs...)
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
