package api

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/statement"
	"github.com/attestd/attestd/internal/strictjson"
	"github.com/attestd/attestd/internal/verify"
)

// An example is one example body of the spec: where it is, the schema it
// illustrates (the name in components/schemas) and its value.
type example struct {
	where, schema string
	value         any
}

// examples returns every example body of the operations' requests and
// responses, in a fixed order.
func examples(t *testing.T, doc *openapi3.T) []example {
	t.Helper()
	var out []example
	add := func(where string, content openapi3.Content) {
		for _, mtName := range slices.Sorted(maps.Keys(content)) {
			mt := content[mtName]
			name := ""
			if mt.Schema != nil {
				name = strings.TrimPrefix(mt.Schema.Ref, "#/components/schemas/")
			}
			if mt.Example != nil {
				out = append(out, example{where + " " + mtName, name, mt.Example})
			}
			for _, k := range slices.Sorted(maps.Keys(mt.Examples)) {
				out = append(out, example{where + " " + mtName + " " + k, name, mt.Examples[k].Value.Value})
			}
		}
	}
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Find(path).Operations() {
			where := method + " " + path
			if op.RequestBody != nil {
				add(where+" request", op.RequestBody.Value.Content)
			}
			for code, r := range op.Responses.Map() {
				add(where+" "+code, r.Value.Content)
			}
		}
	}
	slices.SortFunc(out, func(a, b example) int { return strings.Compare(a.where, b.where) })
	return out
}

// decodeExample reads an example as a client reads the body: strictly, so
// a member that is not a field of the Go type is an error.
func decodeExample(v any, into any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return strictjson.Unmarshal(raw, into)
}

// perChain are the checks internal/verify makes on each chain, in order.
var perChain = []string{verify.CheckRPC, verify.CheckTx, verify.CheckStatus, verify.CheckSender, verify.CheckPayload, verify.CheckCanonical, verify.CheckConfirmed}

// checkNameRE matches the names internal/verify gives its checks;
// anchorRE the per-chain prefix of a name.
var (
	checkNameRE = regexp.MustCompile(`^(?:` +
		strings.Join([]string{verify.CheckFormat, verify.CheckFingerprint, verify.CheckMerklePath, verify.CheckChains}, "|") +
		`|anchor\[[1-9][0-9]*\]\.(?:` + strings.Join(perChain, "|") + `))$`)
	anchorRE = regexp.MustCompile(`^(anchor\[[1-9][0-9]*\]\.)`)
)

// checkBundle checks a bundle example as a verifier would without a chain:
// its form (proof.Bundle.Check) and its Merkle path with internal/verify.
func checkBundle(b *proof.Bundle) error {
	if err := b.Check(); err != nil {
		return err
	}
	if err := verify.VerifyPath(b.Fingerprint, b.Index, b.Size, b.PathHashes(), b.Root); err != nil {
		return fmt.Errorf("the Merkle path does not verify: %w", err)
	}
	if len(b.Anchors) == 0 {
		return fmt.Errorf("a bundle the server serves has at least one anchor")
	}
	return nil
}

// TestSpecExamples: every example in api/openapi.yaml is a real one. The
// schema check is loadSpec's (examples validated against their schemas,
// formats and patterns included); on top of it, each example body is read
// strictly into its Go type and checked for what it claims: proof bundles
// verify their Merkle path, receipts verify with the receipt key of the
// GET /v1/info example, check names are ones internal/verify emits and a
// verdict follows from its checks, statuses are consistent.
func TestSpecExamples(t *testing.T) {
	doc := loadSpec(t)

	// The receipt keys the service publishes (the GET /v1/info example).
	var info Info
	infoEx := doc.Paths.Find("/v1/info").Get.Responses.Status(200).Value.Content["application/json"].Example
	if err := decodeExample(infoEx, &info); err != nil {
		t.Fatalf("the GET /v1/info example: %v", err)
	}
	keys := map[string]ed25519.PublicKey{}
	periods := map[string]ReceiptKey{}
	for _, k := range info.ReceiptKeys {
		periods[k.KeyID] = k
		if k.Algorithm != ReceiptKeyAlgorithmEd25519 || len(k.PublicKey) != ed25519.PublicKeySize || receipt.KeyID(k.PublicKey) != k.KeyID {
			t.Errorf("the GET /v1/info example's receipt key %s is not an Ed25519 key with that id", k.KeyID)
		}
		keys[k.KeyID] = k.PublicKey
	}
	checkReceipt := func(r receipt.Receipt) error {
		pub, ok := keys[r.KeyID]
		if !ok {
			return fmt.Errorf("receipt for %s: signed by key %s, which the GET /v1/info example does not publish", r.Fingerprint, r.KeyID)
		}
		if err := receipt.Verify(r, pub); err != nil {
			return fmt.Errorf("receipt for %s: %w", r.Fingerprint, err)
		}
		return nil
	}
	submittedFingerprints := func(v any) ([]fingerprint.Fingerprint, error) {
		var req SubmitRequest
		if err := decodeExample(v, &req); err != nil {
			return nil, err
		}
		var out []fingerprint.Fingerprint
		for i, text := range req.Fingerprints {
			fp, err := fingerprint.Parse(text)
			if err != nil || fp.IsZero() {
				return nil, fmt.Errorf("fingerprints[%d] %q: the server refuses it (%v)", i, text, err)
			}
			out = append(out, fp)
		}
		return out, nil
	}
	// The statements of the POST /v1/statements request examples, by the
	// fingerprint of their canonical form (which the 202 examples answer).
	requested := map[fingerprint.Fingerprint]bool{}
	statementRequest := func(v any) (statement.Statement, error) {
		var req StatementRequest
		if err := decodeExample(v, &req); err != nil {
			return statement.Statement{}, err
		}
		st := statement.Statement{Version: statement.Version, Type: statement.Type(req.Type)}
		var err error
		if st.Subject, err = fingerprint.Parse(req.Subject); err != nil {
			return st, err
		}
		if st.Nonce, err = fingerprint.ParseNonce(req.Nonce); err != nil {
			return st, err
		}
		if req.Replacement != nil {
			r, err := fingerprint.Parse(*req.Replacement)
			if err != nil {
				return st, err
			}
			st.Replacement = &r
		}
		if req.Reason != nil {
			st.Reason = statement.Reason(*req.Reason)
		}
		return st, st.Check()
	}
	for name, ex := range doc.Paths.Find("/v1/statements").Post.RequestBody.Value.Content["application/json"].Examples {
		st, err := statementRequest(ex.Value.Value)
		if err != nil {
			t.Fatalf("the POST /v1/statements request example %s: %v", name, err)
		}
		text, _ := st.Encode()
		requested[statement.Fingerprint(text)] = true
	}
	// checkStatement checks a statement's text and its fingerprint, and that
	// it is about subject (when not zero).
	checkStatement := func(text, fp string, subject fingerprint.Fingerprint) (statement.Statement, error) {
		st, err := statement.Parse([]byte(text))
		if err != nil {
			return st, err
		}
		if got := statement.Fingerprint([]byte(text)).String(); got != fp {
			return st, fmt.Errorf("the statement's fingerprint is %s, not %s", got, fp)
		}
		if !subject.IsZero() && st.Subject != subject {
			return st, fmt.Errorf("the statement is about %s, not %s", st.Subject, subject)
		}
		return st, nil
	}

	// The POST /v1/fingerprints request example, which the 202 example answers.
	submitted, err := submittedFingerprints(doc.Paths.Find("/v1/fingerprints").Post.RequestBody.Value.Content["application/json"].Example)
	if err != nil {
		t.Fatalf("the POST /v1/fingerprints request example: %v", err)
	}

	checks := map[string]func(v any) error{
		"SubmitRequest": func(v any) error {
			_, err := submittedFingerprints(v)
			return err
		},
		"SubmitResponse": func(v any) error {
			var resp SubmitResponse
			if err := decodeExample(v, &resp); err != nil {
				return err
			}
			if len(resp.Receipts) != len(submitted) {
				return fmt.Errorf("%d receipts for the request example's %d fingerprints", len(resp.Receipts), len(submitted))
			}
			for i, r := range resp.Receipts {
				if r.Fingerprint != submitted[i] || r.TreeSize != uint64(len(submitted)) || r.TreeIndex != uint64(i) {
					return fmt.Errorf("receipt %d is not the receipt of the request example's fingerprint %d", i, i)
				}
				if err := checkReceipt(r); err != nil {
					return err
				}
			}
			return nil
		},
		"Submission": func(v any) error {
			var sub Submission
			if err := decodeExample(v, &sub); err != nil {
				return err
			}
			if sub.Receipt.Fingerprint.String() != sub.Fingerprint {
				return fmt.Errorf("the receipt is for %s, the submission for %s", sub.Receipt.Fingerprint, sub.Fingerprint)
			}
			return checkReceipt(sub.Receipt)
		},
		"FingerprintStatus": func(v any) error {
			var st FingerprintStatus
			if err := decodeExample(v, &st); err != nil {
				return err
			}
			anchored := st.Status == StatusAnchored || st.Status == StatusConfirmed
			switch {
			case (st.BatchID != nil) != (st.Status != StatusPending):
				return fmt.Errorf("status %s with batch_id %v", st.Status, st.BatchID)
			case (st.Proof != nil) != anchored:
				return fmt.Errorf("status %s with proof %v: a proof is there exactly from anchored on", st.Status, st.Proof != nil)
			}
			subject, _ := fingerprint.Parse(st.Fingerprint)
			for _, list := range []struct {
				t   statement.Type
				rss []RecordStatement
			}{{statement.Supersede, st.SupersededBy}, {statement.Withdraw, st.Withdrawn}} {
				for _, rs := range list.rss {
					parsed, err := checkStatement(rs.Statement, rs.Fingerprint, subject)
					switch {
					case err != nil:
						return err
					case parsed.Type != list.t:
						return fmt.Errorf("a %s statement listed as %s", parsed.Type, list.t)
					case parsed.Type == statement.Supersede && (rs.Replacement == nil || *rs.Replacement != parsed.Replacement.String() || rs.Reason != nil):
						return fmt.Errorf("a supersede listed with replacement %v and reason %v", rs.Replacement, rs.Reason)
					case parsed.Type == statement.Withdraw && (rs.Reason == nil || string(*rs.Reason) != string(parsed.Reason) || rs.Replacement != nil):
						return fmt.Errorf("a withdrawal listed with reason %v and replacement %v", rs.Reason, rs.Replacement)
					case (rs.Proof != nil) != (rs.Status == StatusAnchored || rs.Status == StatusConfirmed):
						return fmt.Errorf("a statement in status %s with proof %v", rs.Status, rs.Proof != nil)
					case rs.Proof != nil:
						if err := checkBundle(rs.Proof); err != nil {
							return err
						}
					}
				}
			}
			switch {
			case st.Proof == nil:
				return nil
			case st.Proof.Fingerprint.String() != st.Fingerprint || int64(st.Proof.BatchID) != *st.BatchID:
				return fmt.Errorf("the proof is for %s in batch %d, the status for %s in batch %d", st.Proof.Fingerprint, st.Proof.BatchID, st.Fingerprint, *st.BatchID)
			}
			return checkBundle(st.Proof)
		},
		"VerifyRequest": func(v any) error {
			var req VerifyRequest
			if err := decodeExample(v, &req); err != nil {
				return err
			}
			if req.Fingerprint != nil {
				fp, err := fingerprint.Parse(*req.Fingerprint)
				if err != nil || fp != req.Bundle.Fingerprint {
					return fmt.Errorf("fingerprint %s is not the bundle's %s (%v)", *req.Fingerprint, req.Bundle.Fingerprint, err)
				}
			}
			return checkBundle(&req.Bundle)
		},
		"VerifyResult": func(v any) error {
			var res VerifyResult
			if err := decodeExample(v, &res); err != nil {
				return err
			}
			verdict := VerifyResultVerdictValid
			for _, c := range res.Checks {
				if !checkNameRE.MatchString(c.Name) {
					return fmt.Errorf("check %q: internal/verify has no check of that name", c.Name)
				}
				if c.Ok != (c.State == VerifyCheckStateOk) {
					return fmt.Errorf("check %q: ok %v with state %s", c.Name, c.Ok, c.State)
				}
				switch {
				case c.State == VerifyCheckStateFailed:
					verdict = VerifyResultVerdictInvalid
				case c.State == VerifyCheckStateUndecided && verdict == VerifyResultVerdictValid:
					verdict = VerifyResultVerdictUndecided
				}
			}
			if verdict == VerifyResultVerdictValid {
				// Valid means every check ran and held: the path, the
				// chains, and on each chain every per-chain check.
				want := []string{verify.CheckMerklePath, verify.CheckChains}
				for _, c := range res.Checks {
					if m := anchorRE.FindStringSubmatch(c.Name); m != nil {
						for _, per := range perChain {
							want = append(want, m[1]+per)
						}
					}
				}
				for _, name := range want {
					if !slices.ContainsFunc(res.Checks, func(c VerifyCheck) bool { return c.Name == name }) {
						return fmt.Errorf("a valid result without the check %q, which a valid verdict needs", name)
					}
				}
			}
			switch {
			case len(res.Checks) == 0:
				return fmt.Errorf("no checks")
			case res.Verdict != verdict:
				return fmt.Errorf("verdict %s, but its checks make it %s", res.Verdict, verdict)
			case res.Valid != (verdict == VerifyResultVerdictValid) || (res.AttestedAt != nil) != res.Valid:
				return fmt.Errorf("verdict %s with valid %v and attested_at %v", res.Verdict, res.Valid, res.AttestedAt)
			}
			return nil
		},
		"StatementRequest": func(v any) error {
			_, err := statementRequest(v)
			return err
		},
		"StatementResponse": func(v any) error {
			var resp StatementResponse
			if err := decodeExample(v, &resp); err != nil {
				return err
			}
			if _, err := checkStatement(resp.Statement, resp.Fingerprint, fingerprint.Fingerprint{}); err != nil {
				return err
			}
			if fp, _ := fingerprint.Parse(resp.Fingerprint); !requested[fp] {
				return fmt.Errorf("the statement %s is none of the request examples'", resp.Fingerprint)
			}
			if resp.Receipt.Fingerprint.String() != resp.Fingerprint {
				return fmt.Errorf("the receipt is for %s, the statement's fingerprint is %s", resp.Receipt.Fingerprint, resp.Fingerprint)
			}
			return checkReceipt(resp.Receipt)
		},
		"StatusFile": func(v any) error {
			raw, err := json.Marshal(v)
			if err != nil {
				return err
			}
			f, err := statement.ParseStatusFile(raw)
			if err != nil {
				return err
			}
			pub, ok := keys[f.KeyID]
			if !ok {
				return fmt.Errorf("signed by key %s, which the GET /v1/info example does not publish", f.KeyID)
			}
			if k := periods[f.KeyID]; k.ValidFrom != nil && f.IssuedAt.Time.Before(*k.ValidFrom) || k.ValidUntil != nil && !f.IssuedAt.Time.Before(*k.ValidUntil) {
				return fmt.Errorf("issued %s, outside the period of its key %s", f.IssuedAt.Time, f.KeyID)
			}
			for _, e := range f.Statements {
				if !requested[e.Fingerprint] {
					return fmt.Errorf("the statement %s is none of the POST /v1/statements examples'", e.Fingerprint)
				}
			}
			return f.Verify(pub)
		},
		"Batch": func(v any) error {
			var b Batch
			if err := decodeExample(v, &b); err != nil {
				return err
			}
			for _, a := range b.Anchors {
				if mined := a.State != AnchorStateSigned; (a.BlockNumber != nil) != mined || (a.BlockHash != nil) != mined {
					return fmt.Errorf("anchor on chain %d in state %s with block fields %v, %v", a.ChainID, a.State, a.BlockNumber, a.BlockHash)
				}
			}
			return nil
		},
	}
	// Examples whose schema check (loadSpec) is all there is to check.
	schemaOnly := map[string]func() any{
		"Info": func() any { return new(Info) }, "Health": func() any { return new(Health) },
		"Readiness": func() any { return new(Readiness) }, "Problem": func() any { return new(Problem) },
	}

	seen := map[string]int{}
	for _, ex := range examples(t, doc) {
		seen[ex.schema]++
		if check, ok := checks[ex.schema]; ok {
			if err := check(ex.value); err != nil {
				t.Errorf("%s: the %s example is not a real one: %v", ex.where, ex.schema, err)
			}
			continue
		}
		if newT, ok := schemaOnly[ex.schema]; ok {
			if err := decodeExample(ex.value, newT()); err != nil {
				t.Errorf("%s: the %s example does not decode into its Go type: %v", ex.where, ex.schema, err)
			}
			continue
		}
		if ex.schema == "" && ex.where == "GET /metrics 200 text/plain" {
			continue
		}
		t.Errorf("%s: an example of %q, which this test has no check for: add one", ex.where, ex.schema)
	}
	for _, name := range []string{"SubmitRequest", "SubmitResponse", "Submission", "FingerprintStatus", "VerifyRequest", "VerifyResult", "Batch", "Info", "StatementRequest", "StatementResponse", "StatusFile"} {
		if seen[name] == 0 {
			t.Errorf("the spec has no example of %s", name)
		}
	}
}
