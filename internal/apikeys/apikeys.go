// Package apikeys manages submitters' API keys. Each key belongs to one
// institution. Keys are kept hashed: the keys file holds
//
//	<institution> sha256:<hex SHA-256 of the key> [display="<name>"]   [# comment]
//
// one a line ('#' outside the quotes starts a comment), so a leaked file
// does not leak keys. The institution is a slug (letters, digits, ._-:@):
// it identifies the institution to the service (rate limits, its own
// submissions). The optional display name is how its receipts name it —
// "Hôpital Saint-Louis", any printable UTF-8 on one line — quoted as a Go
// string literal (strconv.Quote); one given on any line of an institution
// is its name, and two different ones are refused. Files without display
// names read as before.
// A line may also hold a plain key instead of its hash (the form the first
// releases documented); it is hashed on load. attestd keys add/list/revoke
// edit the file, and a running server picks changes up without a restart
// (File reloads when the file changes).
package apikeys

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/attestd/attestd/internal/atomicfile"
)

// Hash is the SHA-256 of a key.
type Hash [32]byte

// ID is a key's public name: the first 8 bytes of its hash, hex.
func (h Hash) ID() string { return hex.EncodeToString(h[:8]) }

// String is the file form "sha256:<hex>".
func (h Hash) String() string { return "sha256:" + hex.EncodeToString(h[:]) }

// HashKey hashes a presented key.
func HashKey(key string) Hash { return sha256.Sum256([]byte(key)) }

// MinKeyLength is the shortest plain key accepted.
const MinKeyLength = 16

// Entry is one line of the keys file.
type Entry struct {
	Institution string
	Hash        Hash
	Display     string // the name receipts give; "" = Institution
	Comment     string
}

// Set maps key hashes to institutions.
type Set struct {
	byHash  map[Hash]string
	display map[string]string // institution → display name, when given
	entries []Entry
}

// DisplayName returns the name receipts give an institution: its display
// name from the file, or the institution itself.
func (s *Set) DisplayName(institution string) string {
	if d, ok := s.display[institution]; ok {
		return d
	}
	return institution
}

// Institution returns the institution a presented key belongs to.
func (s *Set) Institution(key string) (string, bool) {
	inst, ok := s.byHash[HashKey(key)]
	return inst, ok
}

// Entries lists the keys in file order.
func (s *Set) Entries() []Entry { return slices.Clone(s.entries) }

// Len is the number of keys.
func (s *Set) Len() int { return len(s.entries) }

// ValidInstitution reports whether name can name an institution: 1–128
// bytes of letters, digits and "._-:@".
func ValidInstitution(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-:@", c)) {
			return false
		}
	}
	return true
}

// MaxDisplayName bounds a display name, in bytes of UTF-8.
const MaxDisplayName = 200

// ValidDisplayName reports whether name can be an institution's display
// name: 1 to MaxDisplayName bytes of UTF-8, printable characters and
// spaces only (no newline, tab, control or format character such as a
// bidirectional override), not starting or ending with a space. It is
// signed as one line of a receipt statement (receipt.Statement).
func ValidDisplayName(name string) bool {
	if name == "" || len(name) > MaxDisplayName || !utf8.ValidString(name) || strings.TrimSpace(name) != name {
		return false
	}
	for _, r := range name {
		if !unicode.IsPrint(r) { // letters, marks, numbers, punctuation, symbols, U+0020
			return false
		}
	}
	return true
}

// errDisplay says what a display name may hold.
var errDisplay = errors.New("invalid display name (1–200 bytes of printable UTF-8 on one line: no control characters, no leading or trailing space)")

// splitLine cuts a keys file line into its fields, its display name
// (display="…", a Go string literal) and its comment.
func splitLine(line string) (fields []string, display string, hasDisplay bool, comment string, err error) {
	rest := line
	for {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		switch {
		case rest == "":
			return fields, display, hasDisplay, comment, nil
		case rest[0] == '#':
			return fields, display, hasDisplay, strings.TrimSpace(rest[1:]), nil
		case strings.HasPrefix(rest, "display="):
			if hasDisplay {
				return nil, "", false, "", errors.New("display= given twice")
			}
			q, qerr := strconv.QuotedPrefix(rest[len("display="):])
			if qerr != nil || q[0] != '"' {
				return nil, "", false, "", errors.New(`want display="<name>", a double-quoted string`)
			}
			display, _ = strconv.Unquote(q)
			hasDisplay = true
			rest = rest[len("display=")+len(q):]
			if r, _ := utf8.DecodeRuneInString(rest); rest != "" && r != '#' && !unicode.IsSpace(r) {
				return nil, "", false, "", errors.New(`want a space after display="<name>"`)
			}
		default:
			end := strings.IndexFunc(rest, func(r rune) bool { return r == '#' || unicode.IsSpace(r) })
			if end < 0 {
				end = len(rest)
			}
			fields = append(fields, rest[:end])
			rest = rest[end:]
		}
	}
}

// Parse reads a keys file. Errors name the line but never echo a key.
func Parse(data []byte) (*Set, error) {
	s := &Set{byHash: map[Hash]string{}, display: map[string]string{}}
	for i, line := range strings.Split(string(data), "\n") {
		f, display, hasDisplay, comment, err := splitLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if len(f) == 0 && !hasDisplay {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"institution sha256:<hex> [display=\"<name>\"]\"", i+1)
		}
		if hasDisplay {
			if !ValidDisplayName(display) {
				return nil, fmt.Errorf("line %d: %w", i+1, errDisplay)
			}
			if d, ok := s.display[f[0]]; ok && d != display {
				return nil, fmt.Errorf("line %d: %s has another display name on an earlier line", i+1, f[0])
			}
			s.display[f[0]] = display
		}
		if !ValidInstitution(f[0]) {
			return nil, fmt.Errorf("line %d: invalid institution name (1–128 of letters, digits, ._-:@)", i+1)
		}
		var h Hash
		if hx, ok := strings.CutPrefix(f[1], "sha256:"); ok {
			b, err := hex.DecodeString(hx)
			if err != nil || len(b) != len(h) {
				return nil, fmt.Errorf("line %d: the key hash must be sha256: and 64 hex characters", i+1)
			}
			copy(h[:], b)
		} else {
			if len(f[1]) < MinKeyLength {
				return nil, fmt.Errorf("line %d: the key of %s is shorter than %d characters", i+1, f[0], MinKeyLength)
			}
			h = HashKey(f[1])
		}
		if _, dup := s.byHash[h]; dup {
			return nil, fmt.Errorf("line %d: key listed twice", i+1)
		}
		s.byHash[h] = f[0]
		s.entries = append(s.entries, Entry{Institution: f[0], Hash: h, Display: display, Comment: comment})
	}
	return s, nil
}

// Format renders entries in file form.
func Format(entries []Entry) []byte {
	var b bytes.Buffer
	b.WriteString("# attestd API keys: <institution> sha256:<hash of the key> [display=\"<name>\"]. Edit with `attestd keys`.\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "%s %s", e.Institution, e.Hash)
		if e.Display != "" {
			fmt.Fprintf(&b, " display=%s", strconv.Quote(e.Display))
		}
		if e.Comment != "" {
			fmt.Fprintf(&b, " # %s", e.Comment)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Generate returns a new random key ("atk_" + 43 base64url characters).
func Generate() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "atk_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// Load reads and parses the keys file at path.
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Save writes entries to path atomically with mode 0600.
func Save(path string, entries []Entry) error {
	return atomicfile.Write(path, Format(entries), 0o600)
}

// Add generates a key for institution, appends its hash to the file at
// path (created if absent) and returns the key — the only time it is seen.
func Add(path, institution, comment string) (string, Entry, error) {
	return AddNamed(path, institution, "", comment)
}

// AddNamed is Add with a display name for the institution's receipts
// ("" for none). A display name other than the one the institution has in
// the file already is refused: revoke its keys first, or edit the file.
func AddNamed(path, institution, display, comment string) (string, Entry, error) {
	if !ValidInstitution(institution) {
		return "", Entry{}, errors.New("invalid institution name (1–128 of letters, digits, ._-:@)")
	}
	if display != "" && !ValidDisplayName(display) {
		return "", Entry{}, errDisplay
	}
	if strings.ContainsAny(comment, "\r\n") {
		return "", Entry{}, errors.New("the comment must be one line")
	}
	var entries []Entry
	if s, err := Load(path); err == nil {
		entries = s.entries
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", Entry{}, err
	}
	key, err := Generate()
	if err != nil {
		return "", Entry{}, err
	}
	e := Entry{Institution: institution, Hash: HashKey(key), Display: display, Comment: comment}
	for _, o := range entries {
		if o.Institution == institution && o.Display != "" && display != "" && o.Display != display {
			return "", Entry{}, fmt.Errorf("%s already has the display name %q in %s: revoke its keys first, or edit the file", institution, o.Display, path)
		}
	}
	if err := Save(path, append(entries, e)); err != nil {
		return "", Entry{}, err
	}
	return key, e, nil
}

// Revoke removes the keys whose ID is id, or every key of an institution
// when id names one; it returns what was removed.
func Revoke(path, id string) ([]Entry, error) {
	s, err := Load(path)
	if err != nil {
		return nil, err
	}
	var keep, gone []Entry
	for _, e := range s.entries {
		if e.Hash.ID() == id || e.Institution == id {
			gone = append(gone, e)
		} else {
			keep = append(keep, e)
		}
	}
	if len(gone) == 0 {
		return nil, fmt.Errorf("no key with ID or institution %q", id)
	}
	return gone, Save(path, keep)
}

// File is a keys file that a running server reloads when it changes.
//
// When the file cannot be read or parsed, the last set that loaded stays
// in force (a server that dropped every key on a typo would lock every
// institution out) — which means a key revoked in the broken file is still
// accepted. Health says so, for the attestd_api_keys_reload_failing metric,
// its alert and /readyz.
type File struct {
	path string
	log  *slog.Logger
	cur  atomic.Pointer[Set]
	mu   sync.Mutex
	sum  [32]byte // SHA-256 of the content that loaded

	failing atomic.Pointer[error] // the last reload's error; nil when it loaded
	loaded  atomic.Int64          // Unix time of the last successful read
}

// OpenFile loads path; call Watch to follow changes.
func OpenFile(path string, log *slog.Logger) (*File, error) {
	if log == nil {
		log = slog.Default()
	}
	f := &File{path: path, log: log}
	if _, err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Institution implements the server's key lookup on the current set.
func (f *File) Institution(key string) (string, bool) { return f.cur.Load().Institution(key) }

// DisplayName is the current set's DisplayName.
func (f *File) DisplayName(institution string) string { return f.cur.Load().DisplayName(institution) }

// Set returns the current set.
func (f *File) Set() *Set { return f.cur.Load() }

// Reload reads the file and, if its content changed since the last load,
// parses it and reports true. The file is read every time (it is small),
// so one that became unreadable is noticed even if its modification time
// did not change. A file that cannot be read or parsed leaves the current
// keys in force and is reported by Health until a reload succeeds.
func (f *File) Reload() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	changed, err := f.reload()
	if err != nil {
		f.failing.Store(&err)
		return false, err
	}
	f.failing.Store(nil)
	f.loaded.Store(time.Now().Unix())
	return changed, nil
}

func (f *File) reload() (bool, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(data)
	if f.cur.Load() != nil && sum == f.sum {
		return false, nil
	}
	s, err := Parse(data)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.path, err)
	}
	f.cur.Store(s)
	f.sum = sum
	return true, nil
}

// Health reports when the file last loaded and the last reload's error
// (nil when that reload succeeded).
func (f *File) Health() (lastLoaded time.Time, lastErr error) {
	if p := f.failing.Load(); p != nil {
		lastErr = *p
	}
	return time.Unix(f.loaded.Load(), 0), lastErr
}

// Watch reloads every interval until done is closed, logging changes and
// errors (never keys). A failure is logged when it starts or changes, not
// at every tick, and again when the file loads once more.
func (f *File) Watch(done <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-done:
			return
		case <-t.C:
			changed, err := f.Reload()
			switch {
			case err != nil && err.Error() != lastErr:
				lastErr = err.Error()
				f.log.Error("API keys file not reloaded; the previous keys stay in force, including any revoked since", "path", f.path, "err", err)
			case err == nil && lastErr != "":
				lastErr = ""
				f.log.Info("API keys file readable again", "path", f.path, "keys", f.cur.Load().Len())
			case err == nil && changed:
				f.log.Info("API keys reloaded", "path", f.path, "keys", f.cur.Load().Len())
			}
		}
	}
}
