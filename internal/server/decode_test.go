package server

import (
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/strictjson/jsonref"
)

// FuzzDecode: whatever decodeBody accepts as a POST /v1/fingerprints,
// POST /v1/verify or POST /v1/statements body, an encoding/json-based reference accepts too and
// finds no duplicate member names, even case-insensitively: the server
// and a standard parser read one body the same way.
func FuzzDecode(f *testing.F) {
	h := strings.Repeat("ab", 32)
	bundle := `{"version":1,"fingerprint":"` + h + `","batch_id":1,"index":0,"size":2,"root":"` + h + `","path":["` + h + `"],"anchors":[{"chain_id":1337,"tx_hash":"0x` + h + `","block_number":1,"block_hash":"0x` + h + `","anchorer":"0x8a9f3c2b1d4e5f60718293a4b5c6d7e8f9012345"}]}`
	for _, s := range []string{
		`{"fingerprints":["` + h + `"]}`,
		`{"fingerprints":["` + h + `"],"fingerprints":["` + h + `"]}`,
		`{"FINGERPRINTS":["` + h + `"]}`,
		`{"fingerprints":[],"Fingerprints":["` + h + `"]}`,
		`{"bundle":` + bundle + `}`,
		`{"bundle":` + bundle + `,"bundle":` + bundle + `}`,
		`{"bundle":` + bundle + `,"BUNDLE":` + bundle + `}`,
		`{"bundle":` + strings.Replace(bundle, `{"version":1,`, `{"version":1,"ROOT":"00",`, 1) + `,"fingerprint":"` + h + `","required_chains":[1],"min_confirmations":2}`,
		`{"type":"withdraw","subject":"` + h + `","reason":"other","nonce":"` + h + `"}`,
		`{"type":"supersede","subject":"` + h + `","replacement":"` + h + `","nonce":"` + h + `","Nonce":"` + h + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sub api.SubmitRequest
		var ver api.VerifyRequest
		var stm api.StatementRequest
		for _, v := range []any{&sub, &ver, &stm} {
			if decodeBody(data, v) != nil {
				continue
			}
			if err := jsonref.Check(data, true); err != nil {
				t.Fatalf("decodeBody accepted %q into %T, which the reference refuses: %v", data, v, err)
			}
		}
	})
}
