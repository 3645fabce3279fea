package fingerprint

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/strictjson/jsonref"
)

// jsonAttacks are JSON documents one parser can read in two ways. RFC 8785
// works on I-JSON (RFC 7493), which has no duplicate names: canonicalize
// must refuse each rather than pick one member, or two different documents
// would share a fingerprint. Names differing only in case are different
// members of a document and are kept.
var jsonAttacks = []string{
	`{"result":"negative","result":"positive"}`,
	`{"result":"negative","resul\u0074":"positive"}`,
	`{"a":{"result":"negative","result":"positive"}}`,
	`[{"x":1},{"x":1,"x":2}]`,
	"{\"r\":\"\xff\",\"r\":\"\xfe\"}",
	`{"a":1} {"a":2}`,
	`{"a":1}}`,
}

func TestCanonicalizeRefusesAmbiguousJSON(t *testing.T) {
	for _, in := range jsonAttacks {
		if out, _, err := canonicalize(strings.NewReader(in), 1<<20); err == nil {
			t.Errorf("canonicalize(%q) = %q, want an error", in, out)
		}
	}
	if out, _, err := canonicalize(strings.NewReader(`{"a":1,"A":2}`), 1<<20); err != nil || string(out) != `{"A":2,"a":1}` {
		t.Errorf(`canonicalize({"a":1,"A":2}) = %q, %v; case variants are distinct members`, out, err)
	}
}

// FuzzCanonicalize: what canonicalize accepts is one JSON value without
// duplicate names (the encoding/json-based reference agrees), its output
// is the same value as encoding/json reads the input, and canonicalizing
// the output changes nothing.
func FuzzCanonicalize(f *testing.F) {
	for _, in := range jsonAttacks {
		f.Add([]byte(in))
	}
	f.Add([]byte(`{"resourceType":"Observation","status":"final","valueQuantity":{"value":7.25,"unit":"mmol/L"},"A":1,"a":[1e2,-0,"\u00e9"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _, err := canonicalize(bytes.NewReader(data), 1<<20)
		if err != nil {
			return
		}
		if err := jsonref.Check(data, false); err != nil {
			t.Fatalf("canonicalize accepted %q, which the reference refuses: %v", data, err)
		}
		var in, canon any
		if err := json.Unmarshal(data, &in); err != nil {
			t.Fatalf("canonicalize accepted %q, which encoding/json refuses: %v", data, err)
		}
		if err := json.Unmarshal(out, &canon); err != nil {
			t.Fatalf("canonical form %q of %q is not JSON: %v", out, data, err)
		}
		if !reflect.DeepEqual(in, canon) {
			t.Fatalf("canonical form %q of %q is another value", out, data)
		}
		again, _, err := canonicalize(bytes.NewReader(out), 1<<20)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("canonicalize(%q) = %q, %v; want it unchanged", out, again, err)
		}
	})
}
