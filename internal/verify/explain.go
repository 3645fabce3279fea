package verify

import "strings"

// plain is what each check asks, in words for someone who is not an
// engineer (a border clerk reading attestd verify's output).
var plain = map[string]string{
	CheckFormat:       "Is the proof file complete and well-formed?",
	CheckFingerprint:  "Is this document the one the proof was made for?",
	CheckMerklePath:   "Does the proof connect this document to the batch that was published?",
	CheckChains:       "Is the proof published on a chain this check can read?",
	CheckPolicy:       "Does at least one chain confirm the proof?",
	CheckRPC:          "Did the chain's server answer, for the right chain?",
	CheckTx:           "Does the publishing transaction exist on the chain, where the proof says?",
	CheckStatus:       "Did the publishing transaction succeed?",
	CheckSender:       "Was it published by the issuer you trust?",
	CheckRecipient:    "Was it sent where that issuer says it publishes?",
	CheckIssuer:       "Do all the chains name the same trusted issuer?",
	CheckPayload:      "Does the published record name exactly this batch?",
	CheckCanonical:    "Is the block holding it part of the chain everyone agrees on?",
	CheckConfirmed:    "Have enough blocks been added after it that it can no longer be undone?",
	CheckAgree:        "Did all the chain servers you gave say the same thing?",
	CheckEvidence:     "Does the proof's own copy of the chain hold together, block by block?",
	CheckReceipt:      "Was the receipt signed by the issuer's receipt key of its time?",
	CheckRecordStatus: "Has the record been corrected or withdrawn since it was attested?",
}

// Explain returns the question a check answers, in plain words, for a
// check name Verify emits (per chain "anchor[<id>].<check>"); "" for a
// name it does not know.
func Explain(name string) string {
	if i := strings.Index(name, "]."); strings.HasPrefix(name, "anchor[") && i > 0 {
		name = name[i+2:]
	}
	return plain[name]
}
