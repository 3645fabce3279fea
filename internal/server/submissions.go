package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/store"
)

// GetSubmission implements GET /v1/submissions/{fingerprint}: the calling
// institution's own submission, with its receipt (its own received time,
// whoever submitted the fingerprint first). A fingerprint the institution
// never submitted answers exactly as an unknown fingerprint does (404), so
// the endpoint reveals nothing across tenants.
func (s *Server) GetSubmission(c *gin.Context, text api.FingerprintPath) {
	fp, err := fingerprint.Parse(text)
	if err != nil {
		s.problem(c, err)
		return
	}
	ctx := c.Request.Context()
	inst := c.GetString(institutionKey)
	notFound := fmt.Errorf("fingerprint %s: %w", fp, store.ErrNotFound) // the same for unknown and not yours
	rec, e, err := s.Store.Submission(ctx, fp, inst)
	if errors.Is(err, store.ErrNotFound) {
		s.problem(c, notFound)
		return
	}
	if err != nil {
		s.problem(c, err)
		return
	}
	rs, err := s.Signer.Sign(receipt.Facts{Fingerprint: fp, Institution: s.Keys.DisplayName(inst), ReceivedAt: rec.ReceivedAt, Deadline: s.Sealer.Deadline(rec.ReceivedAt)})
	if err != nil {
		s.problem(c, err)
		return
	}
	out := api.Submission{
		Fingerprint: fp.String(),
		Status:      api.Status(store.StatusPending),
		Receipt:     rs[0],
	}
	if !e.Pending() {
		b, err := s.Store.Batch(ctx, e.BatchID)
		if err != nil {
			s.problem(c, err)
			return
		}
		id := int64(b.ID)
		out.BatchID = &id
		out.Status = api.Status(b.Status(s.chainsFor(nil, b.ID)))
	}
	c.JSON(http.StatusOK, out)
}
