package strictjson_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/strictjson"
	"github.com/attestd/attestd/internal/strictjson/jsonref"
)

type inner struct {
	Root string `json:"root"`
	N    uint64 `json:"n"`
}

type doc struct {
	Fingerprints []string       `json:"fingerprints"`
	Proof        *inner         `json:"proof,omitempty"`
	List         []inner        `json:"list"`
	Sig          []byte         `json:"sig"`
	Flag         bool           `json:"flag"`
	Count        int            `json:"count"`
	Meta         map[string]int `json:"meta"`
}

// attacks are texts that one parser can read in two ways, or that a
// strict parser must not read at all; each with the reason and the words
// the error must contain.
var attacks = []struct {
	name, in string
	want     error
	words    []string
}{
	{"duplicate", `{"fingerprints":["a"],"fingerprints":["b"]}`, strictjson.ErrDuplicateName, []string{`"fingerprints"`}},
	{"duplicate escaped", `{"fingerprints":["a"],"fingerprint\u0073":["b"]}`, strictjson.ErrDuplicateName, []string{`"fingerprints"`}},
	{"duplicate nested", `{"proof":{"root":"a","root":"b"}}`, strictjson.ErrDuplicateName, []string{`"root"`, "/proof"}},
	{"duplicate in array", `{"list":[{"n":1},{"n":1,"n":2}]}`, strictjson.ErrDuplicateName, []string{`"n"`, "/list/1"}},
	{"duplicate in unknown member", `{"x":{"a":1,"a":2}}`, strictjson.ErrDuplicateName, []string{`"a"`, "/x"}},
	{"case variant", `{"proof":{"root":"a"},"PROOF":{"root":"b"}}`, strictjson.ErrCaseVariant, []string{`"proof"`, `"PROOF"`}},
	{"case variant first", `{"PROOF":{"root":"b"},"proof":{"root":"a"}}`, strictjson.ErrCaseVariant, []string{`"proof"`, `"PROOF"`}},
	{"case variant nested", `{"proof":{"root":"a","Root":"b"}}`, strictjson.ErrCaseVariant, []string{`"Root"`, "/proof"}},
	{"case variant in a map", `{"meta":{"a":1,"A":2}}`, strictjson.ErrCaseVariant, []string{"/meta"}},
	{"kelvin sign", "{\"meta\":{\"k\":1,\"\u212a\":2}}", strictjson.ErrCaseVariant, []string{"/meta"}},
	{"long s", "{\"proof\":{\"n\":1},\"pr\u017foof\":{}}", strictjson.ErrUnknownField, nil},
	{"case variant alone", `{"FINGERPRINTS":["a"]}`, strictjson.ErrUnknownField, []string{`"FINGERPRINTS"`, "case-sensitive"}},
	{"unknown", `{"fingerprints":[],"institution":"x"}`, strictjson.ErrUnknownField, []string{`"institution"`}},
	{"unknown nested", `{"proof":{"issuer":"x"}}`, strictjson.ErrUnknownField, []string{`"issuer"`, "/proof"}},
	{"trailing object", `{"count":1}{"count":2}`, strictjson.ErrTrailingData, nil},
	{"trailing garbage", `{"count":1} x`, strictjson.ErrTrailingData, nil},
	{"trailing brace", `{"count":1}}`, strictjson.ErrTrailingData, nil},
	{"trailing bracket", `{"count":1} ]`, strictjson.ErrTrailingData, nil},
	{"empty", ``, strictjson.ErrSyntax, nil},
	{"truncated", `{"fingerprints":[`, strictjson.ErrSyntax, nil},
	{"invalid UTF-8", "{\"fingerprints\":[\"\xff\"]}", strictjson.ErrSyntax, []string{"UTF-8"}},
	{"trailing comma", `{"count":1,}`, strictjson.ErrSyntax, nil},
	{"wrong type", `{"count":"1"}`, nil, []string{"/count"}},
	{"negative unsigned", `{"proof":{"n":-1}}`, nil, []string{"/proof/n"}},
	{"base64 with a newline", `{"sig":"AA\nEC"}`, nil, []string{"/sig"}},
}

func TestUnmarshalRefuses(t *testing.T) {
	for _, tc := range attacks {
		t.Run(tc.name, func(t *testing.T) {
			var v doc
			err := strictjson.Unmarshal([]byte(tc.in), &v)
			if err == nil {
				t.Fatalf("accepted %s as %+v", tc.in, v)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %q", err, tc.want)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %s", err, w)
				}
			}
		})
	}
}

// TestUnmarshalAccepts: well-formed input decodes as encoding/json decodes it.
func TestUnmarshalAccepts(t *testing.T) {
	for _, in := range []string{
		`{}`,
		` {"fingerprints":["a","b"],"proof":{"root":"r","n":18446744073709551615},"sig":"AAEC","flag":true,"count":-3} `,
		`{"proof":null,"fingerprints":null,"list":[{"n":1},{"n":1}],"meta":{"a":1,"b":2}}`,
		`{"list":[{"root":"x"},{"root":"X"}]}`, // equal names in different objects
		`{"meta":{"proof":1},"proof":{}}`,
		"{\"fingerprints\":[\"\u00e9\"]}\n",
	} {
		var got, want doc
		if err := strictjson.Unmarshal([]byte(in), &got); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read as %+v, encoding/json reads %+v", in, got, want)
		}
	}
}

// TestReference checks the reference itself on the attacks: it must find
// each ambiguity, or the fuzz targets that lean on it prove nothing.
func TestReference(t *testing.T) {
	for _, tc := range attacks {
		if tc.want == strictjson.ErrDuplicateName || tc.want == strictjson.ErrCaseVariant || tc.want == strictjson.ErrTrailingData || tc.want == strictjson.ErrSyntax {
			if jsonref.Check([]byte(tc.in), true) == nil && tc.name != "invalid UTF-8" {
				t.Errorf("reference accepts %s (%s)", tc.in, tc.name)
			}
		}
	}
	if err := jsonref.Check([]byte(`{"a":1,"A":2}`), false); err != nil {
		t.Errorf("reference without fold refuses case variants: %v", err)
	}
	if err := jsonref.Check([]byte(`{"a":{"a":[{"a":1}]},"b":[{"a":1},{"a":2}]}`), true); err != nil {
		t.Errorf("reference refuses equal names in different objects: %v", err)
	}
}

// FuzzUnmarshal: whatever Unmarshal accepts, the reference accepts with
// names compared case-insensitively, and encoding/json (v1) reads it the
// same way: the two parsers never see two different documents.
func FuzzUnmarshal(f *testing.F) {
	for _, tc := range attacks {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(`{"fingerprints":["a","b"],"proof":{"root":"r","n":1},"list":[{"n":2}],"sig":"AAEC","flag":true,"count":-3,"meta":{"a":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got doc
		if strictjson.Unmarshal(data, &got) != nil {
			return
		}
		if err := jsonref.Check(data, true); err != nil {
			t.Fatalf("accepted %q, which the reference refuses: %v", data, err)
		}
		var want doc
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: read as %+v, encoding/json reads %+v", data, got, want)
		}
	})
}
