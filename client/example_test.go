package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/attestd/attestd/client"
)

// The examples run against a real attestd (TestMain starts one); they
// find it, as a hospital's program would, in the environment:
// ATTESTD_SERVER, ATTESTD_API_KEY, ATTESTD_RPC (a chain endpoint the
// verifier chose) and ATTESTD_TRUST (the verifier's trust list).

// A document's whole journey: fingerprinted where it lives, stamped,
// upgraded with its proof once anchored, then verified by whoever holds
// it — here against a chain endpoint and a trust list of their own.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "lab")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	doc := filepath.Join(dir, "hba1c.txt")
	if err := os.WriteFile(doc, []byte("HbA1c 6.1 %\n"), 0o600); err != nil {
		log.Fatal(err)
	}

	// At the hospital: fingerprint (blinded with a fresh nonce), submit,
	// keep the .attest with the document.
	c, err := client.New(os.Getenv("ATTESTD_SERVER"), client.WithAPIKey(os.Getenv("ATTESTD_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	f, err := client.NewAttestFile(doc, client.AttestOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Stamp(ctx, f); err != nil {
		log.Fatal(err)
	}
	if err := client.WriteAttest(client.AttestPath(doc), f); err != nil {
		log.Fatal(err)
	}
	fmt.Println("receipt for", f.Receipt.Institution)

	// Later (within the receipt's deadline): add the proof.
	if _, err := c.Upgrade(ctx, f, client.UpgradeOptions{Wait: true}); err != nil {
		log.Fatal(err)
	}
	if err := client.WriteAttest(client.AttestPath(doc), f); err != nil {
		log.Fatal(err)
	}

	// Across the border: the document and its .attest, checked against a
	// chain endpoint and a trust list the verifier chose.
	list, err := client.LoadTrustList(os.Getenv("ATTESTD_TRUST"))
	if err != nil {
		log.Fatal(err)
	}
	v, err := client.NewVerifier(ctx, client.VerifierConfig{RPC: []string{os.Getenv("ATTESTD_RPC")}, Trust: list})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	held, err := client.ReadAttest(client.AttestPath(doc))
	if err != nil {
		log.Fatal(err)
	}
	res, err := v.VerifyFile(ctx, doc, held)
	if err != nil {
		log.Fatal(err)
	}
	if res.Verdict == client.VerdictValid {
		issuer := list.Find(res.Issuer) // the verifier's own entry for it
		fmt.Println("valid: attested by", issuer.Name, "for", held.Receipt.Institution)
	}

	// One character changed: some evidence is false, and the check says which.
	if err := os.WriteFile(doc, []byte("HbA1c 7.1 %\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	res, err = v.VerifyFile(ctx, doc, held)
	if err != nil {
		log.Fatal(err)
	}
	for _, check := range res.Checks {
		if check.State == client.StateFailed {
			fmt.Println(res.Verdict, "-", check.Name, "failed:", client.Explain(check.Name))
		}
	}
	// Output:
	// receipt for dev
	// valid: attested by attestd dev server for dev
	// invalid - fingerprint failed: Is this document the one the proof was made for?
}

// Fingerprinting a document: its SHA-256, read in pieces (a scan of many
// gigabytes never sits in memory). Nothing is sent anywhere.
func ExampleHash() {
	fp, err := client.Hash(strings.NewReader("HbA1c 6.1 %\n"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fp)
	// Output: 6bdb01bcafc4a86b950d78ffef3fc6f09123fffcd7dcbf3fc15e8ae5b1ce42cf
}

// Fingerprinting a file where it lies, as it is.
func ExampleHashFile() {
	dir, err := os.MkdirTemp("", "lab")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "hba1c.txt")
	if err := os.WriteFile(path, []byte("HbA1c 6.1 %\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	fp, err := client.HashFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fp)
	// Output: 6bdb01bcafc4a86b950d78ffef3fc6f09123fffcd7dcbf3fc15e8ae5b1ce42cf
}

// A .attest kept in a database rather than beside its document: store its
// JSON, and read it back with ParseAttest, which refuses anything that is
// not exactly one well-formed .attest — here, a member given twice, which
// two readers could take two ways.
func ExampleParseAttest() {
	f, err := client.NewAttest(strings.NewReader("HbA1c 6.1 %\n"), client.AttestOptions{NoBlind: true})
	if err != nil {
		log.Fatal(err)
	}
	data, err := json.Marshal(f) // what the database keeps
	if err != nil {
		log.Fatal(err)
	}
	back, err := client.ParseAttest(data)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(back.Fingerprint)

	twice := strings.Replace(string(data), `"version":1`, `"version":1,"version":1`, 1)
	_, err = client.ParseAttest([]byte(twice))
	fmt.Println(err)
	// Output:
	// 6bdb01bcafc4a86b950d78ffef3fc6f09123fffcd7dcbf3fc15e8ae5b1ce42cf
	// invalid .attest file: duplicate member "version"
}

// A JSON record (a FHIR resource) fingerprinted in its RFC 8785 canonical
// form: two systems that write it out with other whitespace, member order
// or number spelling get the same fingerprint.
func ExampleHashJSON() {
	one := `{"resourceType": "Observation", "status": "final", "valueQuantity": {"value": 6.1, "unit": "%"}}`
	other := `{"status":"final","valueQuantity":{"unit":"%","value":6.10},"resourceType":"Observation"}`
	a, err := client.HashJSON(strings.NewReader(one))
	if err != nil {
		log.Fatal(err)
	}
	b, err := client.HashJSON(strings.NewReader(other))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a == b)
	fmt.Println(a)
	// Output:
	// true
	// 5df336878127145f2bb897a3bad1e670fc7013df0557595292093361ae1dbaad
}

// Blinding: the fingerprint sent is the document's hash mixed with a
// secret nonce, so nobody can confirm a guess about a short record from
// it. The nonce stays with the document (in its .attest), and the same
// nonce gives the same fingerprint again: that is how a verifier
// recomputes it. NewAttest and NewAttestFile do this by default.
func ExampleBlind() {
	docHash, err := client.Hash(strings.NewReader("HbA1c 6.1 %\n"))
	if err != nil {
		log.Fatal(err)
	}
	nonce, err := client.NewNonce()
	if err != nil {
		log.Fatal(err)
	}
	fp := client.Blind(nonce, docHash)
	fmt.Println("sent:", fp != docHash)
	fmt.Println("recomputed:", client.Blind(nonce, docHash) == fp)
	// Output:
	// sent: true
	// recomputed: true
}

// Connecting, and what a server publishes: the chains it anchors on (with
// its anchoring address on each) and its receipt keys.
func ExampleNew() {
	c, err := client.New(os.Getenv("ATTESTD_SERVER"), client.WithAPIKey(os.Getenv("ATTESTD_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, ch := range info.Chains {
		fmt.Println("anchors on chain", ch.ChainID)
	}
	fmt.Println(len(info.ReceiptKeys), "receipt key")
	// Output:
	// anchors on chain 1337
	// 1 receipt key
}

// Stamping a folder of reports: each gets a .attest beside it, written
// once its receipt is in hand.
func ExampleClient_Stamp() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "reports")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var paths []string
	for _, name := range []string{"ecg.txt", "k.txt", "hb.txt"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("report "+name+"\n"), 0o600); err != nil {
			log.Fatal(err)
		}
		paths = append(paths, p)
	}

	c, err := client.New(os.Getenv("ATTESTD_SERVER"), client.WithAPIKey(os.Getenv("ATTESTD_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	files := make([]*client.Attest, len(paths))
	for i, p := range paths {
		if files[i], err = client.NewAttestFile(p, client.AttestOptions{}); err != nil {
			log.Fatal(err)
		}
	}
	if err := c.Stamp(ctx, files...); err != nil {
		log.Fatal(err)
	}
	for i, f := range files {
		if err := client.WriteAttest(client.AttestPath(paths[i]), f); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: received from %s, to be anchored by its deadline: %t\n", f.Document, f.Receipt.Institution, f.Receipt.Deadline.After(f.Receipt.ReceivedAt))
	}
	// Output:
	// ecg.txt: received from dev, to be anchored by its deadline: true
	// k.txt: received from dev, to be anchored by its deadline: true
	// hb.txt: received from dev, to be anchored by its deadline: true
}

// Submitting many fingerprints at once: any number, sent in requests of
// 1,000, each receipt checked against the server's published keys before
// it is returned.
func ExampleClient_Submit() {
	var fps []client.Fingerprint
	for i := range 2500 {
		docHash, err := client.Hash(strings.NewReader(fmt.Sprintf("discharge letter %d\n", i)))
		if err != nil {
			log.Fatal(err)
		}
		nonce, err := client.NewNonce()
		if err != nil {
			log.Fatal(err)
		}
		fps = append(fps, client.Blind(nonce, docHash)) // keep each nonce with its document
	}

	c, err := client.New(os.Getenv("ATTESTD_SERVER"), client.WithAPIKey(os.Getenv("ATTESTD_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	receipts, err := c.Submit(context.Background(), fps...)
	if err != nil {
		log.Fatal(err) // the receipts of the requests before the error are in receipts; submitting again is harmless
	}
	fmt.Println(len(receipts), "receipts, the last for", receipts[2499].Fingerprint == fps[2499])
	// Output: 2500 receipts, the last for true
}

// Upgrading: once the batch is anchored the proof is added to the .attest,
// and once confirmed the chain evidence that lets it verify with no
// network. Without Wait, Upgrade asks once.
func ExampleClient_Upgrade() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(os.Getenv("ATTESTD_SERVER"), client.WithAPIKey(os.Getenv("ATTESTD_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	f, err := client.NewAttest(strings.NewReader("K+ 4.1 mmol/L\n"), client.AttestOptions{Document: "potassium.txt"})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Stamp(ctx, f); err != nil {
		log.Fatal(err)
	}

	st, err := c.Upgrade(ctx, f, client.UpgradeOptions{Wait: true})
	if err != nil {
		log.Fatal(err) // ctx ended first: f holds whatever proof there was; upgrade again later
	}
	fmt.Println(st.Status)
	fmt.Println("proof for batch", f.Proof.BatchID > 0, "on chain", f.Proof.Anchors[0].ChainID, "with its chain evidence:", len(f.Proof.Anchors[0].Evidence) > 0)
	// Output:
	// confirmed
	// proof for batch true on chain 1337 with its chain evidence: true
}

// Verifying with no network at all: the proof's chain evidence, tied to
// the chain by one block hash the verifier trusts — from a node or an
// explorer of its own choosing, or a checkpoint file. Without one the
// verdict is undecided, never valid, and says which hash to confirm.
func ExampleVerifier_offline() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A confirmed .attest, as in the package example.
	c, err := client.New(os.Getenv("ATTESTD_SERVER"), client.WithAPIKey(os.Getenv("ATTESTD_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	f, err := client.NewAttest(strings.NewReader("Na+ 140 mmol/L\n"), client.AttestOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Stamp(ctx, f); err != nil {
		log.Fatal(err)
	}
	if _, err := c.Upgrade(ctx, f, client.UpgradeOptions{Wait: true}); err != nil {
		log.Fatal(err)
	}

	list, err := client.LoadTrustList(os.Getenv("ATTESTD_TRUST"))
	if err != nil {
		log.Fatal(err)
	}
	v, err := client.NewVerifier(ctx, client.VerifierConfig{Offline: true, Trust: list})
	if err != nil {
		log.Fatal(err)
	}
	res, err := v.Verify(ctx, strings.NewReader("Na+ 140 mmol/L\n"), f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("with no trusted block:", res.Verdict)

	// The hash of the anchor's block, from a node the verifier trusts.
	a := f.Proof.Anchors[0]
	node, err := ethclient.DialContext(ctx, os.Getenv("ATTESTD_RPC"))
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	header, err := node.HeaderByNumber(ctx, new(big.Int).SetUint64(a.BlockNumber))
	if err != nil {
		log.Fatal(err)
	}
	v, err = client.NewVerifier(ctx, client.VerifierConfig{Offline: true, Trust: list,
		Trusted: map[uint64][]client.TrustedBlock{a.ChainID: {{Number: a.BlockNumber, Hash: header.Hash(), HasNumber: true}}}})
	if err != nil {
		log.Fatal(err)
	}
	res, err = v.Verify(ctx, strings.NewReader("Na+ 140 mmol/L\n"), f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("with block", a.BlockNumber > 0, "trusted:", res.Verdict)
	// Output:
	// with no trusted block: undecided
	// with block true trusted: valid
}

// An answer that is not a success is a *ProblemError: its status, title
// and detail, and when to ask again.
func ExampleProblemError() {
	c, err := client.New(os.Getenv("ATTESTD_SERVER"), client.WithAPIKey("not-a-key-of-this-server"))
	if err != nil {
		log.Fatal(err)
	}
	fp, err := client.Hash(strings.NewReader("HbA1c 6.1 %\n"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Submit(context.Background(), fp)
	var pe *client.ProblemError
	if errors.As(err, &pe) && pe.StatusCode == http.StatusUnauthorized {
		fmt.Println(pe.StatusCode, pe.Title)
	}
	// Output: 401 Unauthorized
}
