// Command attestd-image builds attestd's container image without a Docker
// engine and without pulling a base image: from scratch, with
// go-containerregistry, into an OCI image layout tar file (make image runs
// it; see README.md, "Container image"). The Dockerfile at the
// repository's root builds the same image with Docker.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	var c Config
	var out, refFile, created string
	c.Binaries = map[string]string{}
	flag.Func("binary", "PLATFORM=PATH: a static attestd for linux/ARCH (repeatable)", func(v string) error {
		p, path, ok := strings.Cut(v, "=")
		if !ok || p == "" || path == "" {
			return fmt.Errorf("want PLATFORM=PATH, e.g. linux/amd64=bin/attestd")
		}
		c.Binaries[p] = path
		return nil
	})
	flag.StringVar(&c.CABundle, "ca-bundle", CABundle, "PEM file of CA certificates to put at "+CABundle)
	flag.StringVar(&c.Ref, "ref", "", "REPOSITORY:TAG the image is published as, e.g. ghcr.io/attestd/attestd:0.1.0")
	flag.StringVar(&c.Version, "version", "", "the attestd version (label org.opencontainers.image.version)")
	flag.StringVar(&c.Commit, "commit", "", "the source commit (label org.opencontainers.image.revision)")
	flag.StringVar(&c.Source, "source", "https://github.com/attestd/attestd", "the source repository (label org.opencontainers.image.source)")
	flag.StringVar(&created, "created", "0", "creation time, Unix seconds (the commit's time makes the build reproducible)")
	flag.StringVar(&out, "out", "bin/attestd-image.tar", "the OCI image layout tar file to write")
	flag.StringVar(&refFile, "ref-file", "", "also write REPOSITORY:TAG@DIGEST (the image index's digest) to this file")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	secs, err := strconv.ParseInt(created, 10, 64)
	if err != nil {
		fail(fmt.Errorf("--created: %w", err))
	}
	c.Created = time.Unix(secs, 0).UTC()
	if c.Version == "" || c.Commit == "" {
		fail(fmt.Errorf("--version and --commit are required"))
	}
	digest, err := Build(c, out)
	if err != nil {
		fail(err)
	}
	ref := c.Ref + "@" + digest.String()
	if refFile != "" {
		if err := os.WriteFile(refFile, []byte(ref+"\n"), 0o644); err != nil {
			fail(err)
		}
	}
	fmt.Printf("wrote %s: %s\n", out, ref)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "attestd-image:", err)
	os.Exit(2)
}
