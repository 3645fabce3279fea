package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/attestd/attestd/internal/web"
)

// GetVerifierPage implements GET /: the web verifier page (internal/web).
func (s *Server) GetVerifierPage(c *gin.Context) { servePage(c, false) }

// DownloadVerifierPage implements GET /verifier.html: the same page, as a
// file to save and open from disk.
func (s *Server) DownloadVerifierPage(c *gin.Context) { servePage(c, true) }

// servePage writes the page with its security headers: the page's own
// Content-Security-Policy (scripts and styles pinned by hash; connect-src
// * for the JSON-RPC endpoints the user chooses), no MIME sniffing, no
// referrer (a verifier's navigation tells no one what was checked), and
// no framing.
func servePage(c *gin.Context, download bool) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", web.CSP())
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
	if download {
		h.Set("Content-Disposition", `attachment; filename="verifier.html"`)
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", web.Page())
}
