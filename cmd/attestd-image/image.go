package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed facts: where the binary is, who runs it. The Helm
// chart's securityContext (runAsUser 65532) and the Dockerfile say the same.
const (
	BinaryPath = "/usr/local/bin/attestd"
	DataDir    = "/var/lib/attestd"
	CABundle   = "/etc/ssl/certs/ca-certificates.crt"
	UID        = 65532
	User       = "65532:65532"
	Port       = "8080/tcp"
)

// Config is one image build: a static attestd binary per platform, the CA
// bundle, and what the labels say. Everything that goes into the image is
// named here, so the same Config gives the same bytes.
type Config struct {
	Binaries map[string]string // "linux/amd64" → path of a static attestd built for it
	CABundle string            // PEM file copied to /etc/ssl/certs/ca-certificates.crt
	Ref      string            // repository:tag, e.g. ghcr.io/attestd/attestd:0.1.0
	Version  string            // org.opencontainers.image.version
	Commit   string            // org.opencontainers.image.revision
	Source   string            // org.opencontainers.image.source
	Created  time.Time         // image and file times (the commit's time, for a reproducible build)
}

// repoTag splits Ref into repository and tag; both are required.
func (c Config) repoTag() (repo, tag string, err error) {
	i := strings.LastIndex(c.Ref, ":")
	if i <= 0 || strings.Contains(c.Ref[i:], "/") || i == len(c.Ref)-1 {
		return "", "", fmt.Errorf("--ref %q: want REPOSITORY:TAG", c.Ref)
	}
	return c.Ref[:i], c.Ref[i+1:], nil
}

// Build writes the OCI image layout of a multi-platform image (an image
// index with one image per platform) as a tar file at out (an
// "oci-archive": skopeo, crane after unpacking, podman and containerd read
// it), and returns the digest of the image index: what a deployment pins.
// No Docker engine, no base image: the root file system is made here from
// scratch. The layout's index.json names the image REPOSITORY:TAG
// (io.containerd.image.name) and TAG (org.opencontainers.image.ref.name).
func Build(c Config, out string) (v1.Hash, error) {
	repo, tag, err := c.repoTag()
	if err != nil {
		return v1.Hash{}, err
	}
	if len(c.Binaries) == 0 {
		return v1.Hash{}, errors.New("no --binary given")
	}
	ca, err := os.ReadFile(c.CABundle)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("the CA bundle: %w", err)
	}
	if !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		return v1.Hash{}, fmt.Errorf("the CA bundle %s holds no PEM certificate", c.CABundle)
	}
	base, err := layer(c.Created, baseFiles(ca))
	if err != nil {
		return v1.Hash{}, err
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "attestd",
		"org.opencontainers.image.description": "Document fingerprint attestation anchored on EVM chains",
		"org.opencontainers.image.version":     c.Version,
		"org.opencontainers.image.revision":    c.Commit,
		"org.opencontainers.image.source":      c.Source,
		"org.opencontainers.image.created":     c.Created.UTC().Format(time.RFC3339),
	}
	platforms := make([]string, 0, len(c.Binaries))
	for p := range c.Binaries {
		platforms = append(platforms, p)
	}
	slices.Sort(platforms)
	dir, err := os.MkdirTemp("", "attestd-image-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for _, p := range platforms {
		goos, arch, ok := strings.Cut(p, "/")
		if !ok || goos != "linux" || arch == "" {
			return v1.Hash{}, fmt.Errorf("platform %q: want linux/ARCH", p)
		}
		bin, err := os.ReadFile(c.Binaries[p])
		if err != nil {
			return v1.Hash{}, err
		}
		app, err := layer(c.Created, []file{{name: BinaryPath, mode: 0o755, data: bin}})
		if err != nil {
			return v1.Hash{}, err
		}
		img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), base, app)
		if err != nil {
			return v1.Hash{}, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return v1.Hash{}, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = goos, arch
		cf.Created = v1.Time{Time: c.Created.UTC()}
		cf.History = []v1.History{
			{Created: cf.Created, CreatedBy: "attestd-image: /etc (passwd, group, CA certificates), /tmp, " + DataDir, Comment: "base"},
			{Created: cf.Created, CreatedBy: "attestd-image: " + BinaryPath, Comment: "attestd " + c.Version},
		}
		cf.Config = v1.Config{
			Entrypoint:   []string{BinaryPath},
			User:         User,
			WorkingDir:   DataDir,
			Env:          []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=" + CABundle},
			ExposedPorts: map[string]struct{}{Port: {}},
			Labels:       labels,
		}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return v1.Hash{}, err
		}
		if err := lp.WriteImage(img); err != nil {
			return v1.Hash{}, err
		}
		d, err := partial.Descriptor(img)
		if err != nil {
			return v1.Hash{}, err
		}
		// An image, not an artifact: no artifactType (go-containerregistry
		// sets it to the config's media type; tools that do not know the
		// field, such as Debian 12's skopeo, rewrite the index without it,
		// which changes its digest).
		d.ArtifactType = ""
		d.Platform = &v1.Platform{OS: goos, Architecture: arch}
		index.Manifests = append(index.Manifests, *d)
	}
	raw, err := json.Marshal(index)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	if err := lp.WriteBlob(digest, io.NopCloser(bytes.NewReader(raw))); err != nil {
		return v1.Hash{}, err
	}
	if err := lp.AppendDescriptor(v1.Descriptor{
		MediaType: types.OCIImageIndex, Size: size, Digest: digest,
		Annotations: map[string]string{
			"org.opencontainers.image.ref.name": tag,
			"io.containerd.image.name":          repo + ":" + tag,
		},
	}); err != nil {
		return v1.Hash{}, err
	}
	return digest, tarDir(dir, out, c.Created)
}

type file struct {
	name string // absolute path in the image; a trailing / makes a directory
	mode int64
	uid  int
	data []byte
}

// baseFiles is the image's root file system apart from the binary, as in a
// "static" distroless image: a user and group for UID 65532 (nonroot), the
// CA certificates, a world-writable /tmp and the data directory, owned by
// nonroot so that a volume mounted there starts writable. No shell, no
// package manager, nothing else.
func baseFiles(ca []byte) []file {
	return []file{
		{name: "/etc/", mode: 0o755},
		{name: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "/etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "/etc/ssl/", mode: 0o755},
		{name: "/etc/ssl/certs/", mode: 0o755},
		{name: CABundle, mode: 0o644, data: ca},
		{name: "/home/", mode: 0o755},
		{name: "/home/nonroot/", mode: 0o700, uid: UID},
		{name: "/tmp/", mode: 0o1777},
		{name: "/usr/", mode: 0o755},
		{name: "/usr/local/", mode: 0o755},
		{name: "/usr/local/bin/", mode: 0o755},
		{name: "/var/", mode: 0o755},
		{name: "/var/lib/", mode: 0o755},
		{name: DataDir + "/", mode: 0o700, uid: UID},
	}
}

// layer is a gzip-compressed OCI layer holding files, every time set to
// at and the owners numeric.
func layer(at time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name: strings.TrimPrefix(f.name, "/"), Mode: f.mode, Uid: f.uid, Gid: f.uid,
			ModTime: at.UTC(), Format: tar.FormatPAX,
		}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
}

// tarDir writes the files under dir into the tar file out, in name order,
// with the time at and no owner: the same layout gives the same bytes.
func tarDir(dir, out string, at time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(names)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp" + strconv.Itoa(os.Getpid())
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, p := range names {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: at.UTC(), Mode: 0o644, Format: tar.FormatPAX}
		if fi.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
		} else {
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if _, err := tw.Write(data); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
