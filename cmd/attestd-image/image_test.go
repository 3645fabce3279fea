package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// releaseTests skips the test unless ATTESTD_RELEASE_TESTS=1 (make
// check-release, which .ci/run runs, sets it): they build attestd for
// several platforms, minutes of work that make test leaves out.
func releaseTests(t *testing.T) string {
	t.Helper()
	if os.Getenv("ATTESTD_RELEASE_TESTS") != "1" {
		t.Skip("ATTESTD_RELEASE_TESTS=1 is not set (make check-release sets it)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

const (
	testVersion = "9.8.7-test"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// TestImage builds the image as make image does, unpacks the tar file and
// checks what a registry and a container runtime would read: the OCI
// layout (every digest and size), one image per platform with the
// entrypoint, user 65532, labels, and a root file system of exactly the
// expected files (no shell); then runs the amd64 binary from the unpacked
// root file system as UID 65532 (chrooted when root: only the image's
// files), and publishes the image to a registry (go-containerregistry's,
// in process) to read it back by its tag.
func TestImage(t *testing.T) {
	root := releaseTests(t)
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "attestd-image.tar")
	run(t, root, nil, "make", "image", "IMAGE="+tarPath, "VERSION=v"+testVersion, "COMMIT="+testCommit,
		"IMAGE_REPO=registry.example/hospital/attestd", "SOURCE_DATE_EPOCH=1796648610")
	refData, err := os.ReadFile(tarPath + ".ref")
	if err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimSpace(string(refData))
	wantRef := "registry.example/hospital/attestd:" + testVersion + "@sha256:"
	if !strings.HasPrefix(ref, wantRef) {
		t.Fatalf("ref file %q, want %s…", ref, wantRef)
	}

	// The tar file is an OCI image layout: unpack it and read it.
	lay := filepath.Join(dir, "layout")
	untar(t, tarPath, lay)
	if _, err := os.Stat(filepath.Join(lay, "oci-layout")); err != nil {
		t.Fatalf("no oci-layout file: %v", err)
	}
	top, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	topm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(topm.Manifests) != 1 || topm.Manifests[0].MediaType != types.OCIImageIndex {
		t.Fatalf("index.json: %+v, want one image index", topm.Manifests)
	}
	desc := topm.Manifests[0]
	if got := desc.Annotations["org.opencontainers.image.ref.name"]; got != testVersion {
		t.Errorf("ref.name %q, want the tag %q (VERSION without its v)", got, testVersion)
	}
	if got := desc.Annotations["io.containerd.image.name"]; got != "registry.example/hospital/attestd:"+testVersion {
		t.Errorf("io.containerd.image.name %q", got)
	}
	if !strings.HasSuffix(ref, "@"+desc.Digest.String()) {
		t.Errorf("ref file %q does not name the index's digest %s", ref, desc.Digest)
	}
	idx, err := top.ImageIndex(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("the image index does not validate (digests, sizes, media types): %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, m := range im.Manifests {
		if m.ArtifactType != "" {
			t.Errorf("%s: artifactType %q in the index (an image, not an artifact; older tools drop it and change the digest)", m.Digest, m.ArtifactType)
		}
		platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("platforms %v, want linux/amd64 and linux/arm64", platforms)
	}

	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, m := range im.Manifests {
		arch := m.Platform.Architecture
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != "linux" || cf.Architecture != arch {
			t.Errorf("%s: config says %s/%s", arch, cf.OS, cf.Architecture)
		}
		c := cf.Config
		if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/attestd"}) || len(c.Cmd) != 0 {
			t.Errorf("%s: entrypoint %q cmd %q, want the binary alone", arch, c.Entrypoint, c.Cmd)
		}
		if c.User != "65532:65532" {
			t.Errorf("%s: user %q, want 65532:65532", arch, c.User)
		}
		for k, v := range map[string]string{
			"org.opencontainers.image.version":  "v" + testVersion,
			"org.opencontainers.image.revision": testCommit,
			"org.opencontainers.image.source":   "https://github.com/attestd/attestd",
			"org.opencontainers.image.created":  "2026-12-07T13:03:30Z",
		} {
			if c.Labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", arch, k, c.Labels[k], v)
			}
		}
		if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
			t.Errorf("%s: 8080/tcp not exposed: %v", arch, c.ExposedPorts)
		}

		rootfs := filepath.Join(dir, "rootfs-"+arch)
		files := unpackImage(t, img, rootfs)
		want := []string{
			"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt",
			"home/", "home/nonroot/", "tmp/", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/attestd",
			"var/", "var/lib/", "var/lib/attestd/",
		}
		if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
			t.Fatalf("%s: the root file system holds\n%q\nwant exactly\n%q", arch, got, want)
		}
		for name, h := range files {
			if b := path.Base(strings.TrimSuffix(name, "/")); b == "sh" || b == "bash" || b == "busybox" {
				t.Errorf("%s: a shell in the image: %s", arch, name)
			}
			wantUID := 0
			if name == "var/lib/attestd/" || name == "home/nonroot/" {
				wantUID = 65532
			}
			if h.Uid != wantUID || h.Gid != wantUID {
				t.Errorf("%s: %s owned by %d:%d, want %d", arch, name, h.Uid, h.Gid, wantUID)
			}
		}
		if h := files["usr/local/bin/attestd"]; h.Mode&0o111 == 0 {
			t.Errorf("%s: the binary is not executable: %o", arch, h.Mode)
		}
		passwd, _ := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
		if !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
			t.Errorf("%s: /etc/passwd has no nonroot 65532: %s", arch, passwd)
		}
		if n := pemCerts(t, filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt")); n < 50 {
			t.Errorf("%s: the CA bundle holds %d certificates", arch, n)
		}
		bin, err := elf.Open(filepath.Join(rootfs, "usr/local/bin/attestd"))
		if err != nil {
			t.Fatal(err)
		}
		if bin.Machine != machine[arch] {
			t.Errorf("%s: the binary is for %v", arch, bin.Machine)
		}
		for _, p := range bin.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: the binary is dynamically linked (has an interpreter): it cannot run in an image without libc", arch)
			}
		}
		bin.Close()

		if arch == "amd64" {
			runFromRootfs(t, rootfs)
		}
	}

	// Publishing: the layout pushed as crane push or skopeo copy --all do,
	// then read back by its tag from the registry.
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	tag, err := name.NewTag(strings.TrimPrefix(reg.URL, "http://") + "/hospital/attestd:" + testVersion)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Index(tag)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != desc.Digest {
		t.Fatalf("the registry serves %s for the tag, want %s", d, desc.Digest)
	}
}

// runFromRootfs runs attestd from the unpacked image as UID 65532: chrooted
// into it when the test runs as root (CI does; nothing from the host then),
// else from its path there, which CI=true refuses.
func runFromRootfs(t *testing.T, rootfs string) {
	t.Helper()
	attr := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	bin := "/usr/local/bin/attestd"
	if os.Geteuid() == 0 {
		attr.Chroot = rootfs
	} else {
		if os.Getenv("CI") == "true" {
			t.Fatal("not root: cannot run the image's binary chrooted as UID 65532 (CI=true, so this is a failure)")
		}
		t.Log("not root: running the image's binary from its path, not chrooted, as this user")
		attr = nil
		bin = filepath.Join(rootfs, bin)
	}
	exe := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = attr
		cmd.Dir = "/"
		cmd.Env = []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := exe("version")
	if err != nil {
		t.Fatalf("attestd version in the image: %v\n%s", err, out)
	}
	for _, want := range []string{"attestd v" + testVersion + "\n", "commit " + testCommit + "\n", "linux/amd64"} {
		if !strings.Contains(out, want) {
			t.Errorf("attestd version printed %q, want %q in it", out, want)
		}
	}
	out, err = exe("serve", "--help")
	if err != nil || !strings.Contains(out, "--listen") || !strings.Contains(out, "--chain-rpc") {
		t.Errorf("attestd serve --help in the image: %v\n%s", err, out)
	}
	if attr != nil {
		// Only the image's files: there is no shell to run.
		cmd := exec.Command("/bin/sh", "-c", "true")
		cmd.SysProcAttr = attr
		if err := cmd.Run(); err == nil || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("/bin/sh in the image: %v, want it not to exist", err)
		}
	}
}

// untar unpacks the tar file src into dir.
func untar(t *testing.T, src, dir string) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	extract(t, tar.NewReader(f), dir)
}

// unpackImage applies img's layers in order into dir and returns the
// headers of what they hold, by path.
func unpackImage(t *testing.T, img v1.Image, dir string) map[string]*tar.Header {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*tar.Header{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		for name, h := range extract(t, tar.NewReader(rc), dir) {
			files[name] = h
		}
		rc.Close()
	}
	return files
}

func extract(t *testing.T, tr *tar.Reader, dir string) map[string]*tar.Header {
	t.Helper()
	files := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if !filepath.IsLocal(h.Name) {
			t.Fatalf("entry %q leaves the directory", h.Name)
		}
		files[h.Name] = h
		p := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, os.FileMode(h.Mode).Perm()); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("entry %q of type %c: only files and directories are expected", h.Name, h.Typeflag)
		}
	}
}

func pemCerts(t *testing.T, file string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		n++
	}
	if len(bytes.TrimSpace(data)) != 0 {
		t.Fatalf("%s: trailing data that is not PEM", file)
	}
	return n
}
