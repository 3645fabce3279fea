// Package client is attestd's Go client, for a hospital's or a lab's own
// systems: fingerprint documents where they are issued, submit the
// fingerprints, fetch their proofs, and verify a document against its
// proof — the same code the attestd command line runs.
//
// # How attestd works, in four steps
//
//  1. Fingerprint the document where it lives ([NewAttestFile], or [Hash],
//     [HashJSON] and [Blind] piece by piece). Only the fingerprint leaves
//     the machine, never the document. A fingerprint is blinded with a
//     secret random nonce by default, so that nobody can confirm a guess
//     about a short record ("HbA1c 6.1 %") from its published fingerprint;
//     a JSON record (a FHIR resource) can be fingerprinted in its canonical
//     form ([CanonJCS]), so whitespace and member order do not matter.
//  2. Submit it ([Client.Stamp], or [Client.Submit] for bare fingerprints):
//     the server answers at once with a signed receipt each, which the
//     client checks against the keys the server publishes. Keep the
//     document's .attest file ([Attest], [WriteAttest]) with it: it holds
//     the nonce and the receipt.
//  3. Upgrade it once its batch is anchored on the chain, within the
//     receipt's Deadline ([Client.Upgrade]): the .attest then holds the
//     proof, and once confirmed the chain evidence that lets it verify with
//     no network at all.
//  4. Anyone holding the document and its .attest verifies it
//     ([NewVerifier], [Verifier.VerifyFile]) against chain endpoints they
//     choose, or offline against a block hash they trust — trusting
//     nothing that attestd says, and naming the issuer from their own
//     trust list ([LoadTrustList]).
//
// # Connecting
//
// [New] takes the server's URL and options: [WithAPIKey] (an institution's
// key, from the environment or a file, never from source code), or
// [WithTLSConfig] for a client certificate and a private CA. Reading
// proofs needs no credentials.
//
//	c, err := client.New("https://attestd.example.org", client.WithAPIKey(os.Getenv("ATTESTD_API_KEY")))
//
// The client checks everything it is given: JSON with a member twice,
// receipts not signed by the server's published keys, and proofs that are
// malformed or for another fingerprint are errors. An answer that is not a
// success is a [*ProblemError] (status, title, detail; errors.As finds
// it); a fingerprint the server does not know wraps
// [ErrUnknownFingerprint].
//
// # Verdicts
//
// A [Result]'s Verdict is [VerdictValid] only when every check passed
// against what the verifier trusts; [VerdictInvalid] when some evidence is
// false; [VerdictUndecided] when something could not be checked (an
// endpoint down, no proof yet, too few confirmations). Undecided is never
// "false". Each [Check] says, in plain words, what it found; [Explain]
// gives the question it answers.
//
// Every operation has an example below; they run, as tests, against a real
// attestd server (attestd serve --dev).
//
// The wire types of the HTTP API, and a low-level client of every
// operation, are in the sub-package [github.com/attestd/attestd/client/api]
// ([Client.API]).
package client
