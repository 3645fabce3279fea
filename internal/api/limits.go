package api

// MaxFingerprintsPerRequest is how many fingerprints one POST
// /v1/fingerprints may carry: the server refuses more (400), the CLI splits
// larger submissions into requests of this size, and api/openapi.yaml says
// so in SubmitRequest's maxItems (TestSpecMaxFingerprints keeps the two
// equal).
const MaxFingerprintsPerRequest = 10_000
