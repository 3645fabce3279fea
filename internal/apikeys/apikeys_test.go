package apikeys

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	plain := "0123456789abcdef-plain"
	h := HashKey("another-key-0123456789")
	good := "# comment\n\nhospital-a " + plain + "\nlab.b " + h.String() + " # added by ops\n"
	s, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if inst, ok := s.Institution(plain); !ok || inst != "hospital-a" {
		t.Fatalf("plain key: %q %v", inst, ok)
	}
	if inst, ok := s.Institution("another-key-0123456789"); !ok || inst != "lab.b" {
		t.Fatalf("hashed key: %q %v", inst, ok)
	}
	if _, ok := s.Institution(h.String()); ok {
		t.Fatal("the hash itself must not work as a key")
	}
	if _, ok := s.Institution(""); ok {
		t.Fatal("empty key accepted")
	}
	if e := s.Entries(); len(e) != 2 || e[1].Comment != "added by ops" {
		t.Fatalf("entries %+v", e)
	}

	for name, bad := range map[string]string{
		"three fields":   "a b c\n",
		"one field":      "hospital\n",
		"short key":      "a short\n",
		"bad hash":       "a sha256:zz\n",
		"short hash":     "a sha256:abcd\n",
		"bad name":       "bad/name 0123456789abcdef0\n",
		"duplicate":      "a 0123456789abcdef0\nb 0123456789abcdef0\n",
		"duplicate hash": "a 0123456789abcdef0\nb " + HashKey("0123456789abcdef0").String() + "\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%s: accepted %q", name, bad)
		} else if strings.Contains(err.Error(), "0123456789abcdef0") {
			t.Errorf("%s: error echoes the key: %v", name, err)
		}
	}
}

func TestAddRevokeAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-keys")
	key1, e1, err := Add(path, "hospital-a", "first")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file mode %v (%v), want 0600", fi.Mode(), err)
	}
	if data, _ := os.ReadFile(path); strings.Contains(string(data), key1) {
		t.Fatal("the keys file holds the plain key")
	}
	f, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if inst, ok := f.Institution(key1); !ok || inst != "hospital-a" {
		t.Fatal("added key not accepted")
	}
	key2, _, err := Add(path, "lab-b", "")
	if err != nil {
		t.Fatal(err)
	}
	if key1 == key2 || !strings.HasPrefix(key2, "atk_") {
		t.Fatalf("keys %q %q", key1, key2)
	}
	// Make sure the modification is visible even on coarse mtime clocks.
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(path, future, future)
	if changed, err := f.Reload(); err != nil || !changed {
		t.Fatalf("reload: changed=%v err=%v", changed, err)
	}
	if _, ok := f.Institution(key2); !ok {
		t.Fatal("key added while running not accepted after reload")
	}
	if gone, err := Revoke(path, e1.Hash.ID()); err != nil || len(gone) != 1 {
		t.Fatalf("revoke: %v %v", gone, err)
	}
	os.Chtimes(path, future.Add(time.Second), future.Add(time.Second))
	if _, err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Institution(key1); ok {
		t.Fatal("revoked key still accepted")
	}
	if _, ok := f.Institution(key2); !ok {
		t.Fatal("revoking one key dropped another")
	}
	// A broken file leaves the keys in force.
	os.WriteFile(path, []byte("garbage line here\n"), 0o600)
	os.Chtimes(path, future.Add(2*time.Second), future.Add(2*time.Second))
	if _, err := f.Reload(); err == nil {
		t.Fatal("broken file reloaded without error")
	}
	if _, ok := f.Institution(key2); !ok {
		t.Fatal("a broken file must not drop the keys in force")
	}
	if _, err := Revoke(path, "nobody"); err == nil {
		t.Fatal("revoking an unknown key succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("hospital-a 0123456789abcdef-plain\n"))
	f.Add([]byte("lab sha256:" + strings.Repeat("ab", 32) + " # c\n"))
	f.Add([]byte("lab sha256:" + strings.Repeat("ab", 32) + ` display="Hôpital \"Saint\" #1" # c` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Parse(Format(s.Entries()))
		if err != nil || again.Len() != s.Len() {
			t.Fatalf("formatted set does not re-parse: %v", err)
		}
		for i, e := range again.Entries() {
			if o := s.Entries()[i]; o.Institution != e.Institution || o.Hash != e.Hash || o.Display != e.Display || s.DisplayName(o.Institution) != again.DisplayName(e.Institution) {
				t.Fatalf("entry %d changed: %+v vs %+v", i, o, e)
			}
		}
	})
}

// A keys file that cannot be read keeps the last keys in force — revoked
// ones included — and Health says so until it loads again.
func TestReloadFailureIsReported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "api-keys")
	key, e, err := Add(path, "hospital-a", "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if at, err := f.Health(); err != nil || at.IsZero() {
		t.Fatalf("fresh file: health %v, loaded %v", err, at)
	}
	// The operator revokes the key, but the file ends up unreadable (here:
	// moved away and a directory in its place; the tests run as root, for
	// whom a chmod would not do).
	if _, err := Revoke(path, e.Hash.ID()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Reload(); err == nil {
		t.Fatal("an unreadable keys file reloaded without error")
	}
	if _, ok := f.Institution(key); !ok {
		t.Fatal("the keys in force were dropped")
	}
	if _, err := f.Health(); err == nil {
		t.Fatal("Health does not report the failed reload")
	}
	// Readable again: the revocation takes effect and Health clears.
	os.Remove(path)
	if err := os.Rename(path+".moved", path); err != nil {
		t.Fatal(err)
	}
	if changed, err := f.Reload(); err != nil || !changed {
		t.Fatalf("reload: changed=%v err=%v", changed, err)
	}
	if _, ok := f.Institution(key); ok {
		t.Fatal("revoked key still accepted once the file loaded")
	}
	if _, err := f.Health(); err != nil {
		t.Fatalf("Health still failing: %v", err)
	}
}

// A revocation is seen even when the rewritten file has the same size and
// modification time as before (coarse clocks, copied files, restored
// times): the content decides, not the metadata.
func TestReloadSeesSameSizeSameTimeChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-keys")
	key, _, err := Add(path, "hospital-a", "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	// Same length, other institution name: the old key no longer maps to hospital-a.
	changed := strings.Replace(string(data), "hospital-a", "hospital-b", 1)
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	if ok, err := f.Reload(); err != nil || !ok {
		t.Fatalf("reload: changed=%v err=%v", ok, err)
	}
	if inst, _ := f.Institution(key); inst != "hospital-b" {
		t.Fatalf("key maps to %q after the change, want hospital-b", inst)
	}
}

// TestDisplayName: an institution's display name (accents, spaces) in the
// keys file, its round trip, the old form unchanged, and what is refused.
func TestDisplayName(t *testing.T) {
	h1, h2 := HashKey("key-one-0123456789"), HashKey("key-two-0123456789")
	file := "hopital-saint-louis " + h1.String() + ` display="Hôpital Saint-Louis \"#2\""  # ward #7` + "\n" +
		"hopital-saint-louis " + h2.String() + "\n" + // a second key, no name: the institution's
		"lab-b " + HashKey("key-three-0123456789").String() + " # old form\n"
	s, err := Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := `Hôpital Saint-Louis "#2"`
	if inst, ok := s.Institution("key-two-0123456789"); !ok || inst != "hopital-saint-louis" || s.DisplayName(inst) != want {
		t.Fatalf("institution %q %v, display %q", inst, ok, s.DisplayName(inst))
	}
	if s.DisplayName("lab-b") != "lab-b" || s.DisplayName("unknown") != "unknown" {
		t.Fatalf("no display name: %q %q", s.DisplayName("lab-b"), s.DisplayName("unknown"))
	}
	if e := s.Entries(); e[0].Comment != "ward #7" || e[2].Comment != "old form" {
		t.Fatalf("comments %+v", e)
	}
	again, err := Parse(Format(s.Entries()))
	if err != nil || again.DisplayName("hopital-saint-louis") != want || !strings.Contains(string(Format(s.Entries())), `display="Hôpital`) {
		t.Fatalf("round trip: %v\n%s", err, Format(s.Entries()))
	}
	for name, bad := range map[string]string{
		"newline escape":     `display="a\nb"`,
		"control character":  `display="bell\a"`,
		"tab":                "display=\"a\tb\"",
		"bidi override":      `display="abc\u202edef"`,
		"empty":              `display=""`,
		"leading space":      `display=" Hôpital"`,
		"too long":           `display="` + strings.Repeat("é", 101) + `"`,
		"unterminated":       `display="Hôpital`,
		"single quotes":      `display='Hôpital'`,
		"no space after":     `display="a"b`,
		"twice":              `display="a" display="a"`,
		"invalid UTF-8":      `display="\xff"`,
		"another name later": `display="A"` + "\nhopital-saint-louis " + h2.String() + ` display="B"`,
	} {
		data := "hopital-saint-louis " + h1.String() + " " + bad + "\n"
		if _, err := Parse([]byte(data)); err == nil {
			t.Errorf("%s: accepted %q", name, data)
		}
	}
	for _, bad := range []string{"a\nb", "a\x01b", "a\rb", "a\u2028b", "a\u202eb", " a", "", strings.Repeat("x", MaxDisplayName+1)} {
		if ValidDisplayName(bad) {
			t.Errorf("ValidDisplayName(%q) = true", bad)
		}
	}
	for _, good := range []string{"Hôpital Saint-Louis", "臺大醫院", "St. Mary's (Ward 3) #2", strings.Repeat("x", MaxDisplayName)} {
		if !ValidDisplayName(good) {
			t.Errorf("ValidDisplayName(%q) = false", good)
		}
	}

	// AddNamed writes it; a newline, or another name for the institution,
	// is refused and leaves the file alone.
	path := filepath.Join(t.TempDir(), "api-keys")
	key, _, err := AddNamed(path, "hopital-saint-louis", "Hôpital Saint-Louis", "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if inst, _ := f.Institution(key); f.DisplayName(inst) != "Hôpital Saint-Louis" {
		t.Fatalf("display name %q", f.DisplayName(inst))
	}
	before, _ := os.ReadFile(path)
	for _, d := range []string{"Hôpital\nSaint-Louis", "Hôpital\x1b[31m", "Hôpital Lariboisière"} {
		if _, _, err := AddNamed(path, "hopital-saint-louis", d, ""); err == nil {
			t.Errorf("AddNamed accepted the display name %q", d)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("a refused AddNamed changed the file")
	}
	if _, _, err := AddNamed(path, "hopital-saint-louis", "", "second key"); err != nil {
		t.Fatalf("a second key without a name: %v", err)
	}
}
